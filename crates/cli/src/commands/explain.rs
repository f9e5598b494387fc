//! `killchain explain QUERY`: everything killchain knows about an ATT&CK
//! object: for a technique its tactics, its phase in every kill chain model
//! with the rationale, mitigations, detection strategies, and the groups,
//! software and campaigns known to use it.

use std::process::ExitCode;

use anyhow::Result;
use killchain_kb::attack::{ObjectRef, Resolved};
use killchain_kb::models::ModelSet;
use killchain_kb::AttackKb;
use serde_json::{json, Value};

use crate::cli::{ExplainArgs, GlobalOpts};
use crate::context;

pub fn run(global: &GlobalOpts, args: ExplainArgs) -> Result<ExitCode> {
    let ctx = context::load(global)?;
    let limit = if args.all { usize::MAX } else { 15 };
    let mut found_all = true;
    let mut json_out = Vec::new();
    for query in &args.query {
        let hits = ctx.kb.lookup(query);
        if hits.is_empty() {
            found_all = false;
            let near = ctx.kb.search_names(query, 8);
            let mut msg = format!(
                "killchain: nothing in ATT&CK {} matches {query:?}",
                ctx.kb.meta().version
            );
            if !near.is_empty() {
                let names: Vec<String> = near
                    .iter()
                    .map(|(_, o)| {
                        let (id, name) = ctx.kb.describe(*o);
                        format!("{id} {name}")
                    })
                    .collect();
                msg.push_str(&format!("; did you mean: {}", names.join(", ")));
            }
            eprintln!("{msg}");
            continue;
        }
        for hit in hits {
            if let Some(from) = &hit.redirected_from {
                let (id, _) = ctx.kb.describe(hit.object);
                eprintln!(
                    "killchain: warning: {from} is revoked in ATT&CK; showing its replacement {id}"
                );
            }
            let v = describe(&ctx.kb, &ctx.models, &hit);
            if args.json {
                json_out.push(v);
            } else {
                print!("{}", render(&v, limit));
                println!();
            }
        }
    }
    if args.json {
        let out = if json_out.len() == 1 {
            json_out.remove(0)
        } else {
            Value::Array(json_out)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if found_all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn id_name(kb: &AttackKb, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            let name = kb
                .resolve_id(id)
                .map(|r| kb.describe(r.object).1.to_string())
                .unwrap_or_default();
            json!({"id": id, "name": name})
        })
        .collect()
}

fn phases_json(models: &ModelSet, assignments: impl Fn(usize) -> Vec<(usize, String)>) -> Value {
    let mut out = serde_json::Map::new();
    for (mi, m) in models.models().iter().enumerate() {
        let rows: Vec<Value> = assignments(mi)
            .into_iter()
            .map(|(p, why)| json!({"phase": m.phases[p].id, "phase_name": m.phases[p].name, "phase_index": p, "rationale": why}))
            .collect();
        out.insert(m.id.clone(), Value::Array(rows));
    }
    Value::Object(out)
}

/// A JSON description of one object; the text view renders the same value.
fn describe(kb: &AttackKb, models: &ModelSet, hit: &Resolved) -> Value {
    let (id, name) = kb.describe(hit.object);
    let mut v = json!({"id": id, "name": name, "attack_version": kb.meta().version});
    if let Some(from) = &hit.redirected_from {
        v["redirected_from"] = json!(from);
    }
    match hit.object {
        ObjectRef::Technique(t) => {
            let tech = kb.technique(t);
            v["type"] = json!(if tech.is_subtechnique() {
                "sub-technique"
            } else {
                "technique"
            });
            if let Some(p) = kb.parent_of(t) {
                v["parent"] = json!({"id": kb.technique(p).id, "name": kb.technique(p).name});
            }
            let subs: Vec<Value> = kb
                .subtechniques_of(t)
                .iter()
                .map(|&s| json!({"id": kb.technique(s).id, "name": kb.technique(s).name}))
                .collect();
            if !subs.is_empty() {
                v["subtechniques"] = Value::Array(subs);
            }
            if tech.deprecated {
                v["deprecated"] = json!(true);
            }
            v["tactics"] = Value::Array(
                kb.tactics_of(t)
                    .into_iter()
                    .map(|i| json!({"id": kb.tactic(i).id, "name": kb.tactic(i).name}))
                    .collect(),
            );
            v["platforms"] = json!(tech.platforms);
            v["kill_chain"] = phases_json(models, |mi| {
                models
                    .technique_assignments(mi, t)
                    .iter()
                    .map(|a| (a.phase, a.rationale.to_string()))
                    .collect()
            });
            v["mitigations"] = Value::Array(
                kb.mitigations_for(t)
                    .iter()
                    .map(|m| json!({"id": m.id, "name": m.name}))
                    .collect(),
            );
            v["detection_strategies"] = Value::Array(
                kb.detection_strategies_for(t)
                    .iter()
                    .map(|d| {
                        let analytics: Vec<Value> = d
                            .analytics
                            .iter()
                            .filter_map(|a| kb.analytic(a))
                            .map(|a| {
                                let dcs: Vec<Value> = a
                                    .data_components
                                    .iter()
                                    .map(|dc| {
                                        let name = kb.data_component(dc).map(|c| c.name.clone()).unwrap_or_default();
                                        json!({"id": dc, "name": name})
                                    })
                                    .collect();
                                json!({"id": a.id, "platforms": a.platforms, "data_components": dcs})
                            })
                            .collect();
                        json!({"id": d.id, "name": d.name, "analytics": analytics})
                    })
                    .collect(),
            );
            let mut groups: Vec<Value> = kb
                .groups_using(t)
                .iter()
                .map(|g| json!({"id": g.id, "name": g.name}))
                .collect();
            groups.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            v["groups"] = Value::Array(groups);
            v["software"] = Value::Array(
                kb.software_using(t)
                    .iter()
                    .map(|s| json!({"id": s.id, "name": s.name}))
                    .collect(),
            );
            v["campaigns"] = Value::Array(
                kb.campaigns_using(t)
                    .iter()
                    .map(|c| json!({"id": c.id, "name": c.name}))
                    .collect(),
            );
        }
        ObjectRef::Tactic(i) => {
            let t = kb.tactic(i);
            v["type"] = json!("tactic");
            v["shortname"] = json!(t.shortname);
            v["matrix_position"] = json!(i + 1);
            v["kill_chain"] = phases_json(models, |mi| {
                models
                    .tactic_assignments(mi, i)
                    .iter()
                    .map(|a| (a.phase, a.rationale.to_string()))
                    .collect()
            });
            let techs: Vec<Value> = kb
                .active_techniques()
                .filter(|(ti, tech)| !tech.is_subtechnique() && kb.tactics_of(*ti).contains(&i))
                .map(|(_, tech)| json!({"id": tech.id, "name": tech.name}))
                .collect();
            v["techniques"] = Value::Array(techs);
        }
        ObjectRef::Group(i) => {
            let g = &kb.data().groups[i];
            v["type"] = json!("group");
            v["aliases"] = json!(g.aliases);
            v["techniques"] = Value::Array(id_name(kb, &g.techniques));
            v["software"] = Value::Array(id_name(kb, &g.software));
            v["kill_chain_profile"] = profile(kb, models, &g.techniques);
        }
        ObjectRef::Software(i) => {
            let s = &kb.data().software[i];
            v["type"] = json!(match s.kind {
                killchain_kb::attack::SoftwareKind::Malware => "malware",
                killchain_kb::attack::SoftwareKind::Tool => "tool",
            });
            v["aliases"] = json!(s.aliases);
            v["platforms"] = json!(s.platforms);
            v["techniques"] = Value::Array(id_name(kb, &s.techniques));
            v["kill_chain_profile"] = profile(kb, models, &s.techniques);
        }
        ObjectRef::Campaign(i) => {
            let c = &kb.data().campaigns[i];
            v["type"] = json!("campaign");
            v["first_seen"] = json!(c.first_seen);
            v["last_seen"] = json!(c.last_seen);
            v["groups"] = Value::Array(id_name(kb, &c.groups));
            v["techniques"] = Value::Array(id_name(kb, &c.techniques));
            v["software"] = Value::Array(id_name(kb, &c.software));
            v["kill_chain_profile"] = profile(kb, models, &c.techniques);
        }
        ObjectRef::Mitigation(i) => {
            let m = &kb.data().mitigations[i];
            v["type"] = json!("mitigation");
            v["techniques"] = Value::Array(id_name(kb, &m.techniques));
            v["kill_chain_profile"] = profile(kb, models, &m.techniques);
        }
        ObjectRef::DataComponent(i) => {
            let d = &kb.data().data_components[i];
            v["type"] = json!("data-component");
            v["log_sources"] = json!(d.log_sources);
        }
        ObjectRef::DetectionStrategy(i) => {
            let d = &kb.data().detection_strategies[i];
            v["type"] = json!("detection-strategy");
            v["techniques"] = Value::Array(id_name(kb, &d.techniques));
            v["analytics"] = json!(d.analytics);
        }
        ObjectRef::Analytic(i) => {
            let a = &kb.data().analytics[i];
            v["type"] = json!("analytic");
            v["platforms"] = json!(a.platforms);
            v["data_components"] = json!(a.data_components);
        }
    }
    v
}

/// How a set of techniques spreads over each model's phases (primary phase counts).
fn profile(kb: &AttackKb, models: &ModelSet, techniques: &[String]) -> Value {
    let idx: Vec<usize> = techniques
        .iter()
        .filter_map(|t| kb.technique_by_id(t).map(|x| x.0))
        .collect();
    let mut out = serde_json::Map::new();
    for (mi, m) in models.models().iter().enumerate() {
        let mut counts = vec![0u64; m.phases.len()];
        for &t in &idx {
            let mut seen: Vec<usize> = models
                .technique_assignments(mi, t)
                .iter()
                .map(|a| a.phase)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for p in seen {
                counts[p] += 1;
            }
        }
        let row: serde_json::Map<String, Value> = m
            .phases
            .iter()
            .zip(counts)
            .map(|(p, c)| (p.id.clone(), json!(c)))
            .collect();
        out.insert(m.id.clone(), Value::Object(row));
    }
    Value::Object(out)
}

fn list_line(v: &Value) -> String {
    format!(
        "{} {}",
        v["id"].as_str().unwrap_or(""),
        v["name"].as_str().unwrap_or("")
    )
}

/// Render the JSON description as text.
fn render(v: &Value, limit: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let kind = v["type"].as_str().unwrap_or("");
    let _ = writeln!(
        s,
        "{}  {}  [{kind}, ATT&CK {}]",
        v["id"].as_str().unwrap_or(""),
        v["name"].as_str().unwrap_or(""),
        v["attack_version"].as_str().unwrap_or("")
    );
    if let Some(from) = v["redirected_from"].as_str() {
        let _ = writeln!(s, "  (replaces revoked {from})");
    }
    if v["parent"].is_object() {
        let _ = writeln!(s, "  sub-technique of {}", list_line(&v["parent"]));
    }
    if let Some(a) = v["aliases"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
        let _ = writeln!(s, "  aliases: {}", names.join(", "));
    }
    if let Some(t) = v["tactics"].as_array() {
        let names: Vec<String> = t.iter().map(list_line).collect();
        let _ = writeln!(s, "  tactics: {}", names.join(", "));
    }
    if let Some(p) = v["platforms"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<&str> = p.iter().filter_map(Value::as_str).collect();
        let _ = writeln!(s, "  platforms: {}", names.join(", "));
    }
    if let Some(kc) = v["kill_chain"].as_object() {
        let _ = writeln!(s, "\nKill chain phases");
        for (model, rows) in kc {
            for row in rows.as_array().into_iter().flatten() {
                let _ = writeln!(
                    s,
                    "  {model:<7} {:<24} {}",
                    row["phase"].as_str().unwrap_or(""),
                    row["rationale"].as_str().unwrap_or("")
                );
            }
        }
    }
    if let Some(p) = v["kill_chain_profile"].as_object() {
        let _ = writeln!(s, "\nKill chain profile (techniques per phase)");
        for (model, row) in p {
            let cells: Vec<String> = row
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, c)| c.as_u64().unwrap_or(0) > 0)
                .map(|(ph, c)| format!("{ph} {c}"))
                .collect();
            let _ = writeln!(s, "  {model:<7} {}", cells.join(" | "));
        }
    }
    for (key, title) in [
        ("subtechniques", "Sub-techniques"),
        ("mitigations", "Mitigations"),
        ("detection_strategies", "Detection strategies"),
        ("techniques", "Techniques"),
        ("groups", "Groups known to use it"),
        ("software", "Software"),
        ("campaigns", "Campaigns"),
    ] {
        let Some(items) = v[key].as_array() else {
            continue;
        };
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title} ({})", items.len());
        for item in items.iter().take(limit) {
            let _ = write!(s, "  {}", list_line(item));
            if let Some(an) = item["analytics"].as_array() {
                let dcs: std::collections::BTreeSet<String> = an
                    .iter()
                    .flat_map(|a| a["data_components"].as_array().cloned().unwrap_or_default())
                    .map(|d| list_line(&d))
                    .collect();
                if !dcs.is_empty() {
                    let _ = write!(
                        s,
                        "\n      watch: {}",
                        dcs.into_iter().collect::<Vec<_>>().join("; ")
                    );
                }
            }
            let _ = writeln!(s);
        }
        if items.len() > limit {
            let _ = writeln!(s, "  ... and {} more (--all)", items.len() - limit);
        }
    }
    s
}
