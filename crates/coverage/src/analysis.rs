//! Coverage, defence in depth, gaps and "visible but not detected": the
//! controls joined with the knowledge base, the kill chain models and the
//! threat profile.
//!
//! Scoring (docs/coverage.md): each control covers a technique with an
//! effective strength `s` in 0-5. A technique's score for a kind (prevent,
//! detect, respond) is the chance that at least one control of that kind
//! works, reading `s / 5` as each control's chance, independently:
//! `1 - prod(1 - s_i / 5)`; `protect` does the same over prevent and detect.
//! Scores of tactics and kill chain phases are threat-weighted means of
//! their techniques' scores. Per-control strengths are kept on every
//! technique row, so nothing is averaged away.
//!
//! Depth: a control counts as a layer on a technique when it prevents or
//! detects it with `s >= min_strength`; layers are counted by failure domain
//! (`Control::layer`), so two Sigma rules in the same SIEM are one layer.

use std::collections::{BTreeMap, BTreeSet};

use killchain_kb::models::ModelSet;
use killchain_kb::AttackKb;
use serde::Serialize;

use crate::control::{Control, Kind};
use crate::rules::Collected;
use crate::threat::ThreatProfile;

/// Analysis settings.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisOptions {
    /// Minimum effective strength (0-5) for a control to count as a layer
    /// and to stop an attack path.
    pub min_strength: f64,
    /// The kill chain model phases are reported in (default `lm`).
    pub model: String,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            min_strength: 1.0,
            model: "lm".into(),
        }
    }
}

/// Scores in 0-1 per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct KindScores {
    pub prevent: f64,
    pub detect: f64,
    pub respond: f64,
    /// Prevent or detect.
    pub protect: f64,
}

/// One control's part in a technique's score.
#[derive(Debug, Clone, Serialize)]
pub struct ControlScore {
    pub id: String,
    pub kind: Kind,
    pub layer: String,
    /// Effective strength (0-5).
    pub strength: f64,
}

/// One technique in scope.
#[derive(Debug, Clone, Serialize)]
pub struct TechniqueRow {
    #[serde(skip)]
    pub technique: usize,
    pub id: String,
    pub name: String,
    /// Tactic shortnames (`credential-access`), matrix order.
    pub tactics: Vec<String>,
    /// Phases of the report model (ids).
    pub phases: Vec<String>,
    /// Threat weight (0: no actor of the profile uses it).
    pub weight: f64,
    pub scores: KindScores,
    /// Independent layers (failure domains) that prevent or detect it.
    pub layers: Vec<String>,
    pub visible: bool,
    /// Why it is visible: visibility controls, detections, collected data.
    pub visibility: Vec<String>,
    /// Every control covering it, strongest first.
    pub controls: Vec<ControlScore>,
}

impl TechniqueRow {
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
    /// Detected by a control with at least the minimum strength.
    pub fn detected(&self) -> bool {
        !self.layers.is_empty()
    }
}

/// A kill chain phase or an ATT&CK tactic, rolled up.
#[derive(Debug, Clone, Serialize)]
pub struct StageRow {
    pub id: String,
    pub name: String,
    /// Techniques in scope in this stage.
    pub techniques: usize,
    /// Of those, used by the threat (weight > 0).
    pub threat_techniques: usize,
    /// Sum of their weights.
    pub weight: f64,
    /// Threat-weighted mean scores (0 when no threat technique).
    pub weighted: KindScores,
    /// Share of in-scope techniques with at least one layer (unweighted).
    pub breadth: f64,
    /// Threat-weighted mean number of layers.
    pub depth_mean: f64,
    /// Fewest layers on a threat technique of the stage.
    pub depth_min: usize,
    /// Threat techniques with no layer / with one layer.
    pub gaps: usize,
    pub single_layer: usize,
    /// Every layer protecting some technique of the stage.
    pub layers: Vec<String>,
}

/// A control with what it contributes.
#[derive(Debug, Clone, Serialize)]
pub struct ControlRow {
    #[serde(flatten)]
    pub control: ControlSummary,
    /// Techniques in scope it covers.
    pub techniques: usize,
    /// Of those, used by the threat.
    pub threat_techniques: usize,
    /// Sum over threat techniques of weight x strength / 5.
    pub threat_score: f64,
    /// Threat techniques whose only layer is this control's layer.
    pub sole_layer: usize,
    /// Report-model phases it covers.
    pub phases: Vec<String>,
}

/// The fields of a control the reports show.
#[derive(Debug, Clone, Serialize)]
pub struct ControlSummary {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub layer: String,
    pub strength: f64,
    pub cost: f64,
    pub planned: bool,
    pub tested: crate::control::Tested,
    pub origin: crate::control::Origin,
}

impl From<&Control> for ControlSummary {
    fn from(c: &Control) -> Self {
        ControlSummary {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind,
            layer: c.layer.clone(),
            strength: c.strength,
            cost: c.cost,
            planned: c.planned,
            tested: c.tested.clone(),
            origin: c.origin.clone(),
        }
    }
}

/// A threat technique with too little protection, ranked by
/// `weight x (1 - protect)`.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub protect: f64,
    pub residual: f64,
    pub depth: usize,
    pub phases: Vec<String>,
    pub visible: bool,
}

/// A threat technique protected by one layer only.
#[derive(Debug, Clone, Serialize)]
pub struct SinglePoint {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub layer: String,
    pub controls: Vec<String>,
}

/// An actor's kill chain stage that one layer alone covers, or none.
#[derive(Debug, Clone, Serialize)]
pub struct StageSinglePoint {
    pub actor: String,
    pub actor_name: String,
    pub phase: String,
    /// The actor's techniques in this phase.
    pub techniques: Vec<String>,
    /// The single layer, or `None` when nothing covers the stage.
    pub layer: Option<String>,
    /// The techniques that layer covers.
    pub covered: Vec<String>,
}

/// A technique whose data is collected but that nothing detects.
#[derive(Debug, Clone, Serialize)]
pub struct VisibleRow {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub visibility: Vec<String>,
}

/// Counts over the whole analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub techniques_in_scope: usize,
    pub threat_techniques: usize,
    pub threat_weight: f64,
    /// Threat techniques with at least one layer.
    pub threat_techniques_covered: usize,
    /// In-scope techniques with at least one layer.
    pub techniques_covered: usize,
    pub weighted: KindScores,
    /// Controls in use (not planned), by kind.
    pub controls: BTreeMap<String, usize>,
    pub planned_controls: usize,
}

/// The analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub attack_version: String,
    pub model: String,
    pub options: AnalysisOptions,
    pub totals: Totals,
    /// Phases of the report model, in order.
    pub phases: Vec<StageRow>,
    /// ATT&CK tactics, matrix order.
    pub tactics: Vec<StageRow>,
    pub techniques: Vec<TechniqueRow>,
    pub controls: Vec<ControlRow>,
    pub gaps: Vec<Gap>,
    pub single_points: Vec<SinglePoint>,
    pub stage_single_points: Vec<StageSinglePoint>,
    pub visible_not_detected: Vec<VisibleRow>,
}

/// Per technique, the controls in use that cover it (control index,
/// effective strength), in scope and on a matching platform.
pub(crate) struct Index {
    pub by_technique: Vec<Vec<(usize, f64)>>,
}

impl Index {
    pub fn new(
        kb: &AttackKb,
        controls: &[Control],
        threat: &ThreatProfile,
        include: impl Fn(&Control) -> bool,
    ) -> Index {
        let mut by_technique = vec![Vec::new(); kb.data().techniques.len()];
        for (ci, c) in controls.iter().enumerate() {
            if !include(c) {
                continue;
            }
            for cov in &c.covers {
                let t = cov.technique;
                if threat.in_scope[t]
                    && cov.effective > 0.0
                    && c.applies_to(&kb.technique(t).platforms)
                {
                    by_technique[t].push((ci, cov.effective));
                }
            }
        }
        Index { by_technique }
    }
}

/// `1 - prod(1 - s / 5)`.
pub fn combine(strengths: impl Iterator<Item = f64>) -> f64 {
    1.0 - strengths.fold(1.0, |miss, s| miss * (1.0 - (s / 5.0).clamp(0.0, 1.0)))
}

/// Everything the analysis joins.
pub struct Inputs<'a> {
    pub kb: &'a AttackKb,
    pub models: &'a ModelSet,
    /// Every control, planned ones included (they are left out of coverage).
    pub controls: &'a [Control],
    pub threat: &'a ThreatProfile,
    /// Collected log sources, for visibility through ATT&CK data components.
    pub collected: &'a Collected,
}

/// Runs the analysis.
pub fn analyse(inputs: &Inputs<'_>, opts: &AnalysisOptions) -> Analysis {
    let Inputs {
        kb,
        models,
        controls,
        threat,
        collected,
    } = *inputs;
    let model = models.index_of(&opts.model).unwrap_or(0);
    let model_def = &models.models()[model];
    let index = Index::new(kb, controls, threat, |c| !c.planned);
    let data_visible = data_visibility(kb, threat, collected);

    // Technique rows.
    let mut rows: Vec<TechniqueRow> = Vec::new();
    for (t, tech) in kb.active_techniques() {
        if !threat.in_scope[t] {
            continue;
        }
        let covers = &index.by_technique[t];
        let of = |k: Kind| {
            combine(
                covers
                    .iter()
                    .filter(|(c, _)| controls[*c].kind == k)
                    .map(|(_, s)| *s),
            )
        };
        let scores = KindScores {
            prevent: of(Kind::Prevent),
            detect: of(Kind::Detect),
            respond: of(Kind::Respond),
            protect: combine(
                covers
                    .iter()
                    .filter(|(c, _)| controls[*c].kind.stops())
                    .map(|(_, s)| *s),
            ),
        };
        let layers: BTreeSet<&str> = covers
            .iter()
            .filter(|(c, s)| controls[*c].kind.stops() && *s >= opts.min_strength)
            .map(|(c, _)| controls[*c].layer.as_str())
            .collect();
        let mut visibility: BTreeSet<String> = covers
            .iter()
            .filter(|(c, _)| matches!(controls[*c].kind, Kind::Visibility | Kind::Detect))
            .map(|(c, _)| controls[*c].layer.clone())
            .collect();
        visibility.extend(data_visible[t].iter().map(|s| format!("data: {s}")));
        let mut cs: Vec<ControlScore> = covers
            .iter()
            .map(|&(c, s)| ControlScore {
                id: controls[c].id.clone(),
                kind: controls[c].kind,
                layer: controls[c].layer.clone(),
                strength: s,
            })
            .collect();
        cs.sort_by(|a, b| {
            b.strength
                .total_cmp(&a.strength)
                .then_with(|| a.id.cmp(&b.id))
        });
        rows.push(TechniqueRow {
            technique: t,
            id: tech.id.clone(),
            name: tech.name.clone(),
            tactics: kb
                .tactics_of(t)
                .into_iter()
                .map(|i| kb.tactic(i).shortname.clone())
                .collect(),
            phases: phase_ids(models, model, t),
            weight: threat.weights[t],
            scores,
            layers: layers.into_iter().map(String::from).collect(),
            visible: !visibility.is_empty(),
            visibility: visibility.into_iter().collect(),
            controls: cs,
        });
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));

    let phases: Vec<StageRow> = model_def
        .phases
        .iter()
        .map(|p| {
            stage(
                &p.id,
                &p.name,
                rows.iter().filter(|r| r.phases.contains(&p.id)),
            )
        })
        .collect();
    let tactics: Vec<StageRow> = kb
        .tactics()
        .iter()
        .map(|tac| {
            stage(
                &tac.shortname,
                &tac.name,
                rows.iter().filter(|r| r.tactics.contains(&tac.shortname)),
            )
        })
        .collect();

    // Controls.
    let by_id: BTreeMap<&str, &TechniqueRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut control_rows: Vec<ControlRow> = controls
        .iter()
        .map(|c| {
            let mut n = 0;
            let mut nt = 0;
            let mut score = 0.0;
            let mut sole = 0;
            let mut ph: BTreeSet<usize> = BTreeSet::new();
            for cov in &c.covers {
                let t = kb.technique(cov.technique);
                let Some(row) = by_id.get(t.id.as_str()) else {
                    continue;
                };
                if !c.applies_to(&t.platforms) {
                    continue;
                }
                n += 1;
                ph.extend(
                    models
                        .technique_assignments(model, cov.technique)
                        .iter()
                        .map(|a| a.phase),
                );
                if row.weight > 0.0 {
                    nt += 1;
                    score += row.weight * cov.effective / 5.0;
                    if !c.planned && row.layers.len() == 1 && row.layers[0] == c.layer {
                        sole += 1;
                    }
                }
            }
            ControlRow {
                control: ControlSummary::from(c),
                techniques: n,
                threat_techniques: nt,
                threat_score: score,
                sole_layer: sole,
                phases: ph
                    .into_iter()
                    .map(|p| model_def.phases[p].id.clone())
                    .collect(),
            }
        })
        .collect();
    control_rows.sort_by(|a, b| {
        b.threat_score
            .total_cmp(&a.threat_score)
            .then_with(|| a.control.id.cmp(&b.control.id))
    });

    // Gaps, single points, visible but not detected.
    let threat_rows = || rows.iter().filter(|r| r.weight > 0.0);
    let mut gaps: Vec<Gap> = threat_rows()
        .filter(|r| r.scores.protect < 1.0)
        .map(|r| Gap {
            id: r.id.clone(),
            name: r.name.clone(),
            weight: r.weight,
            protect: r.scores.protect,
            residual: r.weight * (1.0 - r.scores.protect),
            depth: r.depth(),
            phases: r.phases.clone(),
            visible: r.visible,
        })
        .collect();
    gaps.sort_by(|a, b| {
        b.residual
            .total_cmp(&a.residual)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut single_points: Vec<SinglePoint> = threat_rows()
        .filter(|r| r.layers.len() == 1)
        .map(|r| SinglePoint {
            id: r.id.clone(),
            name: r.name.clone(),
            weight: r.weight,
            layer: r.layers[0].clone(),
            controls: r
                .controls
                .iter()
                .filter(|c| {
                    c.layer == r.layers[0] && c.kind.stops() && c.strength >= opts.min_strength
                })
                .map(|c| c.id.clone())
                .collect(),
        })
        .collect();
    single_points.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
    let mut visible_not_detected: Vec<VisibleRow> = rows
        .iter()
        .filter(|r| r.visible && !r.detected())
        .map(|r| VisibleRow {
            id: r.id.clone(),
            name: r.name.clone(),
            weight: r.weight,
            visibility: r.visibility.clone(),
        })
        .collect();
    visible_not_detected
        .sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));

    // Per actor and phase: covered by one layer alone, or by none.
    let mut stage_single_points = Vec::new();
    for a in &threat.actors {
        for p in &model_def.phases {
            let techs: Vec<&TechniqueRow> = a
                .technique_ids
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).copied())
                .filter(|r| r.phases.contains(&p.id))
                .collect();
            if techs.is_empty() {
                continue;
            }
            let layers: BTreeSet<&str> = techs
                .iter()
                .flat_map(|r| r.layers.iter().map(String::as_str))
                .collect();
            if layers.len() > 1 {
                continue;
            }
            let layer = layers.into_iter().next().map(String::from);
            let covered = techs
                .iter()
                .filter(|r| layer.as_ref().is_some_and(|l| r.layers.contains(l)))
                .map(|r| r.id.clone())
                .collect();
            stage_single_points.push(StageSinglePoint {
                actor: a.id.clone(),
                actor_name: a.name.clone(),
                phase: p.id.clone(),
                techniques: techs.iter().map(|r| r.id.clone()).collect(),
                layer,
                covered,
            });
        }
    }

    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for c in controls.iter().filter(|c| !c.planned) {
        *by_kind.entry(c.kind.as_str().to_string()).or_default() += 1;
    }
    let all = stage("all", "all", rows.iter());
    let totals = Totals {
        techniques_in_scope: rows.len(),
        threat_techniques: all.threat_techniques,
        threat_weight: all.weight,
        threat_techniques_covered: threat_rows().filter(|r| r.detected()).count(),
        techniques_covered: rows.iter().filter(|r| r.detected()).count(),
        weighted: all.weighted,
        controls: by_kind,
        planned_controls: controls.iter().filter(|c| c.planned).count(),
    };
    Analysis {
        attack_version: kb.meta().version.clone(),
        model: model_def.id.clone(),
        options: opts.clone(),
        totals,
        phases,
        tactics,
        techniques: rows,
        controls: control_rows,
        gaps,
        single_points,
        stage_single_points,
        visible_not_detected,
    }
}

/// Phase ids of a technique in a model, model order.
pub(crate) fn phase_ids(models: &ModelSet, model: usize, t: usize) -> Vec<String> {
    let mut ps: Vec<usize> = models
        .technique_assignments(model, t)
        .iter()
        .map(|a| a.phase)
        .collect();
    ps.sort_unstable();
    ps.dedup();
    ps.into_iter()
        .map(|p| models.models()[model].phases[p].id.clone())
        .collect()
}

fn stage<'a>(id: &str, name: &str, rows: impl Iterator<Item = &'a TechniqueRow>) -> StageRow {
    let mut s = StageRow {
        id: id.to_string(),
        name: name.to_string(),
        techniques: 0,
        threat_techniques: 0,
        weight: 0.0,
        weighted: KindScores::default(),
        breadth: 0.0,
        depth_mean: 0.0,
        depth_min: 0,
        gaps: 0,
        single_layer: 0,
        layers: Vec::new(),
    };
    let mut layers: BTreeSet<String> = BTreeSet::new();
    let mut covered = 0usize;
    let mut min: Option<usize> = None;
    for r in rows {
        s.techniques += 1;
        covered += usize::from(r.detected());
        layers.extend(r.layers.iter().cloned());
        if r.weight <= 0.0 {
            continue;
        }
        let w = r.weight;
        s.threat_techniques += 1;
        s.weight += w;
        s.weighted.prevent += w * r.scores.prevent;
        s.weighted.detect += w * r.scores.detect;
        s.weighted.respond += w * r.scores.respond;
        s.weighted.protect += w * r.scores.protect;
        s.depth_mean += w * r.depth() as f64;
        min = Some(min.map_or(r.depth(), |m| m.min(r.depth())));
        match r.depth() {
            0 => s.gaps += 1,
            1 => s.single_layer += 1,
            _ => {}
        }
    }
    if s.weight > 0.0 {
        let w = s.weight;
        s.weighted.prevent /= w;
        s.weighted.detect /= w;
        s.weighted.respond /= w;
        s.weighted.protect /= w;
        s.depth_mean /= w;
    }
    if s.techniques > 0 {
        s.breadth = covered as f64 / s.techniques as f64;
    }
    s.depth_min = min.unwrap_or(0);
    s.layers = layers.into_iter().collect();
    s
}

/// Per technique: the collected log sources that ATT&CK's detection
/// strategies for it read (through their analytics' data components),
/// analytics on platforms in scope only.
fn data_visibility(
    kb: &AttackKb,
    threat: &ThreatProfile,
    collected: &Collected,
) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); kb.data().techniques.len()];
    if collected.is_everything() {
        return out;
    }
    for (t, _) in kb.active_techniques() {
        if !threat.in_scope[t] {
            continue;
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        for ds in kb.detection_strategies_for(t) {
            for an in ds.analytics.iter().filter_map(|a| kb.analytic(a)) {
                let on_platform = threat.platforms.is_empty()
                    || an
                        .platforms
                        .iter()
                        .any(|p| threat.platforms.iter().any(|q| q.eq_ignore_ascii_case(p)));
                if !on_platform {
                    continue;
                }
                for dc in an
                    .data_components
                    .iter()
                    .filter_map(|d| kb.data_component(d))
                {
                    for ls in &dc.log_sources {
                        if collected.covers_log_source(&ls.name) {
                            names.insert(ls.name.clone());
                        }
                    }
                }
            }
        }
        out[t] = names.into_iter().collect();
    }
    out
}
