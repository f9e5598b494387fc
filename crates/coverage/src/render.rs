//! Markdown, HTML (self-contained, with a technique heatmap) and CSV
//! renderings of a [`Report`]. Markdown and HTML share one list of tables,
//! so they always say the same thing.

use std::fmt::Write as _;

use crate::analysis::{KindScores, StageRow};
use crate::report::Report;

/// A titled table with an optional paragraph before it.
pub struct Table {
    pub title: String,
    pub intro: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn stage_rows(stages: &[StageRow]) -> Vec<Vec<String>> {
    stages
        .iter()
        .map(|s| {
            let KindScores {
                prevent,
                detect,
                respond,
                protect,
            } = s.weighted;
            vec![
                s.id.clone(),
                format!("{}/{}", s.threat_techniques, s.techniques),
                pct(prevent),
                pct(detect),
                pct(respond),
                pct(protect),
                pct(s.breadth),
                format!("{:.1} (min {})", s.depth_mean, s.depth_min),
                s.gaps.to_string(),
                s.single_layer.to_string(),
            ]
        })
        .collect()
}

const STAGE_HEADER: [&str; 10] = [
    "stage",
    "threat/all techniques",
    "prevent",
    "detect",
    "respond",
    "protect",
    "breadth",
    "layers",
    "gaps",
    "single layer",
];

/// The tables every document report shows, `top` rows for long lists.
pub fn tables(r: &Report, top: usize) -> Vec<Table> {
    let a = &r.analysis;
    let mut out = Vec::new();
    out.push(Table {
        title: format!("Kill chain ({})", a.model),
        intro: "Threat-weighted scores per phase (prevent, detect, respond kept apart; protect = prevent or detect); breadth = share of all in-scope techniques with a layer; layers = threat-weighted mean number of independent layers.".into(),
        header: STAGE_HEADER.to_vec(),
        rows: stage_rows(&a.phases),
    });
    out.push(Table {
        title: "ATT&CK tactics".into(),
        intro: String::new(),
        header: STAGE_HEADER.to_vec(),
        rows: stage_rows(&a.tactics),
    });
    out.push(Table {
        title: "Threat-weighted gaps".into(),
        intro: format!(
            "Threat techniques ranked by weight x (1 - protect); {} in all.",
            a.gaps.len()
        ),
        header: vec![
            "technique",
            "name",
            "weight",
            "protect",
            "layers",
            "visible",
            "phases",
        ],
        rows: a
            .gaps
            .iter()
            .take(top)
            .map(|g| {
                vec![
                    g.id.clone(),
                    g.name.clone(),
                    num(g.weight),
                    pct(g.protect),
                    g.depth.to_string(),
                    if g.visible { "yes" } else { "no" }.into(),
                    g.phases.join(", "),
                ]
            })
            .collect(),
    });
    out.push(Table {
        title: "Single points of failure".into(),
        intro: format!(
            "Threat techniques that one layer alone protects ({} in all).",
            a.single_points.len()
        ),
        header: vec!["technique", "name", "weight", "layer", "controls"],
        rows: a
            .single_points
            .iter()
            .take(top)
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.name.clone(),
                    num(s.weight),
                    s.layer.clone(),
                    short_list(&s.controls, 3),
                ]
            })
            .collect(),
    });
    out.push(Table {
        title: "Stages one layer alone covers (or none) per actor".into(),
        intro: String::new(),
        header: vec!["actor", "phase", "layer", "covered", "actor's techniques"],
        rows: a
            .stage_single_points
            .iter()
            .take(top * 2)
            .map(|s| {
                vec![
                    format!("{} {}", s.actor, s.actor_name),
                    s.phase.clone(),
                    s.layer.clone().unwrap_or_else(|| "NONE".into()),
                    short_list(&s.covered, 6),
                    short_list(&s.techniques, 6),
                ]
            })
            .collect(),
    });
    out.push(Table {
        title: "Visible but not detected".into(),
        intro: format!(
            "Techniques whose data is collected or scored visible, with no detection or prevention layer ({} in all).",
            a.visible_not_detected.len()
        ),
        header: vec!["technique", "name", "weight", "visibility"],
        rows: a
            .visible_not_detected
            .iter()
            .take(top)
            .map(|v| {
                vec![
                    v.id.clone(),
                    v.name.clone(),
                    num(v.weight),
                    short_list(&v.visibility, 4),
                ]
            })
            .collect(),
    });
    let inv = &r.investment;
    out.push(Table {
        title: "Investment list".into(),
        intro: format!(
            "{} candidates; threat-weighted protection now {}, with every candidate {}. Greedy by gain per unit cost; {}.",
            inv.candidates,
            pct(inv.coverage_now),
            pct(inv.coverage_all),
            inv.stopped
        ),
        header: vec!["step", "control", "kind", "cost", "gain", "gain/cost", "protection", "why"],
        rows: inv
            .steps
            .iter()
            .map(|s| {
                let why = s
                    .techniques
                    .iter()
                    .map(|t| format!("{} {}->{}", t.id, pct(t.before), pct(t.after)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let runner = s
                    .runner_up
                    .as_ref()
                    .map(|(id, g)| format!("; next best {id} at {g:.3}/cost"))
                    .unwrap_or_default();
                vec![
                    s.step.to_string(),
                    format!("{} {}", s.id, s.name),
                    s.kind.as_str().into(),
                    num(s.cost),
                    format!("{:.3}", s.gain),
                    format!("{:.3}", s.gain_per_cost),
                    format!("{} -> {}", pct(s.coverage_before), pct(s.coverage_after)),
                    format!("{why}{runner}"),
                ]
            })
            .collect(),
    });
    if let Some(sim) = &r.simulation {
        out.push(Table {
            title: "Attack-path simulation".into(),
            intro: format!(
                "Paths replayed against the controls in use (strength >= {}); robust = still stopped whatever single control fails.",
                num(sim.min_strength)
            ),
            header: vec!["source", "paths", "blocked", "detected", "through", "robust (n-1)", "first stop phases"],
            rows: sim
                .sources
                .iter()
                .map(|s| {
                    vec![
                        format!("{} {}", s.kind, s.source),
                        format!("{}{}", s.paths, if s.truncated { "+" } else { "" }),
                        s.blocked.to_string(),
                        s.detected.to_string(),
                        s.through.to_string(),
                        s.robust.to_string(),
                        s.first_stop_phases
                            .iter()
                            .map(|(p, n)| format!("{p} {n}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        });
        let h = &sim.hitting_set;
        out.push(Table {
            title: "Controls that stop every path".into(),
            intro: format!(
                "{} distinct paths, {} stoppable with the controls in use. Method: {}.",
                h.distinct_paths, h.stoppable, h.method
            ),
            header: vec!["control", "name", "kind", "newly stopped", "stopped"],
            rows: h
                .controls
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        c.name.clone(),
                        c.kind.as_str().into(),
                        c.newly_stopped.to_string(),
                        format!("{}/{}", c.stopped_total, h.stoppable),
                    ]
                })
                .collect(),
        });
    }
    out.push(Table {
        title: "Controls".into(),
        intro: format!(
            "By threat score (sum of weight x strength/5 over threat techniques); {} in all.",
            a.controls.len()
        ),
        header: vec![
            "control",
            "name",
            "kind",
            "layer",
            "strength",
            "techniques",
            "threat techniques",
            "threat score",
            "sole layer for",
        ],
        rows: a
            .controls
            .iter()
            .take(top)
            .map(|c| {
                vec![
                    c.control.id.clone(),
                    c.control.name.clone(),
                    format!(
                        "{}{}",
                        c.control.kind.as_str(),
                        if c.control.planned { " (planned)" } else { "" }
                    ),
                    c.control.layer.clone(),
                    num(c.control.strength),
                    c.techniques.to_string(),
                    c.threat_techniques.to_string(),
                    format!("{:.2}", c.threat_score),
                    c.sole_layer.to_string(),
                ]
            })
            .collect(),
    });
    if !r.inputs.issues.is_empty() {
        out.push(Table {
            title: "Input issues".into(),
            intro: String::new(),
            header: vec!["input", "record", "reason", "skipped"],
            rows: r
                .inputs
                .issues
                .iter()
                .map(|i| {
                    vec![
                        i.input.clone(),
                        i.record.clone(),
                        i.reason.clone(),
                        if i.skipped { "yes" } else { "no" }.into(),
                    ]
                })
                .collect(),
        });
    }
    out
}

fn short_list(v: &[String], n: usize) -> String {
    let mut s = v.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > n {
        let _ = write!(s, " (+{})", v.len() - n);
    }
    s
}

/// One paragraph: what was read and the threat.
pub fn headline(r: &Report) -> String {
    let ru = &r.inputs.rules;
    let t = &r.threat;
    let threat = if t.mode == "selected" {
        t.named
            .iter()
            .map(|(id, name, _, n)| format!("{id} {name} ({n} techniques)"))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!(
            "all {} groups and campaigns, weighted by how many use each technique",
            t.actors
        )
    };
    format!(
        "ATT&CK {}. Threat: {}. Platforms: {}. Rules: {} documents, {} loaded ({} unsupported, {} invalid, {} filtered), {} counted, {} not collected, {} without technique tags. Inventory controls: {}. Collected log sources: {}.",
        r.attack_version,
        threat,
        if t.platforms.is_empty() { "all".into() } else { t.platforms.join(", ") },
        ru.documents,
        ru.loaded,
        ru.unsupported,
        ru.invalid,
        ru.filtered,
        ru.counted,
        ru.not_collected,
        ru.without_techniques,
        r.inputs.inventory_controls,
        if r.inputs.collected.is_empty() { "all (not restricted)".into() } else { r.inputs.collected.join(", ") },
    )
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown report.
pub fn markdown(r: &Report, top: usize) -> String {
    let mut s = String::from("# Control coverage\n\n");
    let _ = writeln!(s, "{}\n", headline(r));
    for t in tables(r, top) {
        let _ = writeln!(s, "## {}\n", t.title);
        if !t.intro.is_empty() {
            let _ = writeln!(s, "{}\n", t.intro);
        }
        if t.rows.is_empty() {
            s.push_str("(none)\n\n");
            continue;
        }
        let _ = writeln!(s, "| {} |", t.header.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        s.push('\n');
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Red (0) -> yellow (0.5) -> green (1), as the Navigator gradient.
pub fn color(x: f64) -> String {
    let x = x.clamp(0.0, 1.0);
    let (from, to, f) = if x < 0.5 {
        ((0xff, 0x66, 0x66), (0xff, 0xe7, 0x66), x * 2.0)
    } else {
        ((0xff, 0xe7, 0x66), (0x8e, 0xc8, 0x43), (x - 0.5) * 2.0)
    };
    let mix = |a: i32, b: i32| (a as f64 + (b - a) as f64 * f).round() as i32;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(from.0, to.0),
        mix(from.1, to.1),
        mix(from.2, to.2)
    )
}

/// The self-contained HTML report: the tables and a heatmap of every
/// in-scope technique by tactic, coloured by protect score, threat
/// techniques outlined.
pub fn html(r: &Report, top: usize) -> String {
    let a = &r.analysis;
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>killchain coverage</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left;vertical-align:top}th{background:#eee}\
.heat{display:flex;gap:4px;align-items:flex-start;overflow-x:auto}.col{min-width:120px;max-width:150px}\
.col h4{font-size:12px;margin:0 0 4px}.t{font-size:11px;padding:2px 3px;margin:1px 0;border:1px solid transparent}\
.t.threat{border:2px solid #222}.legend span{display:inline-block;padding:2px 8px;margin-right:4px;font-size:12px}\
.bar td{border:none;padding:1px 4px}\
</style></head><body>\n<h1>Control coverage</h1>\n",
    );
    let _ = writeln!(s, "<p>{}</p>", esc(&headline(r)));
    // Kill chain bar.
    s.push_str("<h2>Kill chain</h2><table class=\"bar\">");
    for p in &a.phases {
        let w = (p.weighted.protect * 300.0).round();
        let _ = write!(
            s,
            "<tr><td>{}</td><td><div style=\"background:{};width:{}px;height:14px\"></div></td><td>protect {} · layers {:.1} (min {}) · gaps {}</td></tr>",
            esc(&p.id),
            color(p.weighted.protect),
            w.max(2.0),
            pct(p.weighted.protect),
            p.depth_mean,
            p.depth_min,
            p.gaps
        );
    }
    s.push_str("</table>\n<h2>Heatmap</h2>\n<p class=\"legend\">protect score: ");
    for (label, x) in [
        ("0%", 0.0),
        ("25%", 0.25),
        ("50%", 0.5),
        ("75%", 0.75),
        ("100%", 1.0),
    ] {
        let _ = write!(s, "<span style=\"background:{}\">{label}</span>", color(x));
    }
    s.push_str(" outlined: used by the threat</p>\n<div class=\"heat\">");
    for tac in &a.tactics {
        let _ = write!(s, "<div class=\"col\"><h4>{}</h4>", esc(&tac.name));
        for t in a.techniques.iter().filter(|t| t.tactics.contains(&tac.id)) {
            let title = format!(
                "{} {}: prevent {} detect {} respond {}; layers {}; weight {}",
                t.id,
                t.name,
                pct(t.scores.prevent),
                pct(t.scores.detect),
                pct(t.scores.respond),
                t.layers.len(),
                num(t.weight)
            );
            let _ = write!(
                s,
                "<div class=\"t{}\" style=\"background:{}\" title=\"{}\">{} {}</div>",
                if t.weight > 0.0 { " threat" } else { "" },
                color(t.scores.protect),
                esc(&title),
                esc(&t.id),
                esc(&t.name)
            );
        }
        s.push_str("</div>");
    }
    s.push_str("</div>\n");
    for t in tables(r, top) {
        let _ = writeln!(s, "<h2>{}</h2>", esc(&t.title));
        if !t.intro.is_empty() {
            let _ = writeln!(s, "<p>{}</p>", esc(&t.intro));
        }
        if t.rows.is_empty() {
            s.push_str("<p>(none)</p>\n");
            continue;
        }
        s.push_str("<table><tr>");
        for h in &t.header {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        s.push_str("</tr>\n");
        for row in &t.rows {
            s.push_str("<tr>");
            for c in row {
                let _ = write!(s, "<td>{}</td>", esc(c));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// CSV columns, one row per in-scope technique.
const CSV_HEADER: [&str; 13] = [
    "technique",
    "name",
    "tactics",
    "phases",
    "weight",
    "prevent",
    "detect",
    "respond",
    "protect",
    "layers",
    "layer_names",
    "visible",
    "controls",
];

/// Records as CSV text, with `csv`'s writer: a field is quoted only when it
/// needs it (a comma, a double quote, a line break), a quote in it doubled,
/// `\n` after each record.
fn csv_text<R>(records: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item: AsRef<[u8]>>,
{
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    // Writing to memory cannot fail (and `flexible` accepts any record
    // length): the `expect`s never fire; the fields are UTF-8 strings.
    for r in records {
        w.write_record(r).expect("CSV into memory");
    }
    let bytes = w.into_inner().expect("CSV into memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields")
}

/// One CSV row per in-scope technique, per-control strengths in `controls`
/// (`id:kind:strength;...`).
pub fn csv(r: &Report) -> String {
    let rows = r.analysis.techniques.iter().map(|t| {
        let controls = t
            .controls
            .iter()
            .map(|c| format!("{}:{}:{}", c.id, c.kind.as_str(), num(c.strength)))
            .collect::<Vec<_>>()
            .join(";");
        [
            t.id.clone(),
            t.name.clone(),
            t.tactics.join(";"),
            t.phases.join(";"),
            num(t.weight),
            format!("{:.3}", t.scores.prevent),
            format!("{:.3}", t.scores.detect),
            format!("{:.3}", t.scores.respond),
            format!("{:.3}", t.scores.protect),
            t.layers.len().to_string(),
            t.layers.join(";"),
            t.visible.to_string(),
            controls,
        ]
    });
    csv_text(std::iter::once(CSV_HEADER.map(String::from)).chain(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            csv_text([[
                "a,b",
                "say \"x\"",
                "plain",
                "",
                "two\nlines",
                "cr\r",
                " sp "
            ]]),
            "\"a,b\",\"say \"\"x\"\"\",plain,,\"two\nlines\",\"cr\r\", sp \n"
        );
        assert_eq!(csv_text([["h1", "h2"], ["x", ""]]), "h1,h2\nx,\n");
    }

    #[test]
    fn colours_run_red_to_green() {
        assert_eq!(color(0.0), "#ff6666");
        assert_eq!(color(0.5), "#ffe766");
        assert_eq!(color(1.0), "#8ec843");
    }
}
