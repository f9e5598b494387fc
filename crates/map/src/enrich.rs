//! The enrichment output schema: the original record plus ECS `threat.*`,
//! `kill_chain.<model>` and, where missing, the ECS entity fields a finding
//! found elsewhere in the record. Documented in `docs/output-schema.md`.
//!
//! Nothing of the original is lost: existing fields are only replaced where
//! they are the very ATT&CK fields we rewrite in normalised form (the
//! original values stay in `killchain.evidence`), and entity fields are only
//! added when absent.

use serde_json::{Map, Value};

use crate::finding::Finding;

/// `threat.framework` value, as Elastic writes it.
pub const FRAMEWORK: &str = "MITRE ATT&CK";

/// Add the finding's enrichment to `record` (which must be a JSON object;
/// other values are left unchanged and `false` is returned).
pub fn enrich(record: &mut Value, finding: &Finding) -> bool {
    let Value::Object(obj) = record else {
        return false;
    };
    if !finding.is_unmapped() {
        write_threat(obj, finding);
        write_kill_chain(obj, finding);
    }
    write_entities(obj, finding);
    write_meta(obj, finding);
    true
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    Value::Array(items.map(|s| Value::String(s.to_string())).collect())
}

fn write_threat(obj: &mut Map<String, Value>, f: &Finding) {
    set_path(obj, "threat.framework", Value::String(FRAMEWORK.into()));
    if !f.tactics.is_empty() {
        set_path(
            obj,
            "threat.tactic.id",
            strings(f.tactics.iter().map(|t| t.id.as_str())),
        );
        set_path(
            obj,
            "threat.tactic.name",
            strings(f.tactics.iter().map(|t| t.name.as_str())),
        );
    }
    // ECS: technique.* holds techniques; sub-techniques go to technique.subtechnique.*,
    // and their parents are listed as techniques too.
    let mut tech_ids: Vec<&str> = Vec::new();
    let mut tech_names: Vec<&str> = Vec::new();
    let mut sub_ids: Vec<&str> = Vec::new();
    let mut sub_names: Vec<&str> = Vec::new();
    for t in &f.techniques {
        match t.id.split_once('.') {
            Some((parent, _)) => {
                sub_ids.push(&t.id);
                sub_names.push(&t.name);
                if !tech_ids.contains(&parent) {
                    tech_ids.push(parent);
                    tech_names.push(t.parent_name.as_deref().unwrap_or(""));
                }
            }
            None => {
                if let Some(i) = tech_ids.iter().position(|x| *x == t.id) {
                    tech_names[i] = &t.name;
                } else {
                    tech_ids.push(&t.id);
                    tech_names.push(&t.name);
                }
            }
        }
    }
    if !tech_ids.is_empty() {
        set_path(
            obj,
            "threat.technique.id",
            strings(tech_ids.iter().copied()),
        );
        // A parent's name is unknown only if the kb lacks the parent; drop it rather than write "".
        let names: Vec<&str> = tech_names.into_iter().filter(|n| !n.is_empty()).collect();
        if !names.is_empty() {
            set_path(obj, "threat.technique.name", strings(names.into_iter()));
        }
    }
    if !sub_ids.is_empty() {
        set_path(
            obj,
            "threat.technique.subtechnique.id",
            strings(sub_ids.into_iter()),
        );
        set_path(
            obj,
            "threat.technique.subtechnique.name",
            strings(sub_names.into_iter()),
        );
    }
}

fn write_kill_chain(obj: &mut Map<String, Value>, f: &Finding) {
    for (model, p) in &f.phases {
        let mut m = Map::new();
        m.insert("phase".into(), Value::String(p.phase.clone()));
        m.insert(
            "phases".into(),
            strings(p.phases.iter().map(String::as_str)),
        );
        m.insert("phase_index".into(), Value::from(p.phase_index));
        m.insert(
            "rationale".into(),
            strings(p.rationale.iter().map(String::as_str)),
        );
        m.insert("confidence".into(), Value::from(f64::from(p.confidence)));
        set_path(obj, &format!("kill_chain.{model}"), Value::Object(m));
    }
}

fn write_entities(obj: &mut Map<String, Value>, f: &Finding) {
    if let Some(t) = f.time {
        set_if_absent(obj, "@timestamp", Value::String(t.to_string()));
    }
    let e = &f.entities;
    let first = |v: &Vec<String>| v.first().map(|s| Value::String(s.clone()));
    if let Some(v) = first(&e.hosts) {
        set_if_absent(obj, "host.name", v);
    }
    if let Some(v) = first(&e.users) {
        set_if_absent(obj, "user.name", v);
    }
    if let Some(v) = first(&e.source_ips) {
        set_if_absent(obj, "source.ip", v);
    }
    if let Some(v) = first(&e.destination_ips) {
        set_if_absent(obj, "destination.ip", v);
    }
    if let Some(p) = &e.process {
        if let Some(pid) = p.pid {
            set_if_absent(obj, "process.pid", Value::from(pid));
        }
        if let Some(x) = &p.entity_id {
            set_if_absent(obj, "process.entity_id", Value::String(x.clone()));
        }
        if let Some(x) = &p.executable {
            set_if_absent(obj, "process.executable", Value::String(x.clone()));
        }
        if let Some(x) = &p.command_line {
            set_if_absent(obj, "process.command_line", Value::String(x.clone()));
        }
        if let Some(x) = &p.parent_executable {
            set_if_absent(obj, "process.parent.executable", Value::String(x.clone()));
        }
        if let Some(pid) = p.parent_pid {
            set_if_absent(obj, "process.parent.pid", Value::from(pid));
        }
    }
    if let Some(rule) = &f.source.rule {
        if let Some(id) = &rule.id {
            set_if_absent(obj, "rule.id", Value::String(id.clone()));
        }
        if let Some(name) = &rule.name {
            set_if_absent(obj, "rule.name", Value::String(name.clone()));
        }
    }
}

fn write_meta(obj: &mut Map<String, Value>, f: &Finding) {
    if let Some(file) = &f.record.file {
        set_if_absent(obj, "log.file.path", Value::String(file.clone()));
    }
    let mut m = Map::new();
    m.insert("mapped".into(), Value::Bool(!f.is_unmapped()));
    if !f.is_unmapped() {
        m.insert("confidence".into(), Value::from(f64::from(f.confidence)));
    }
    if !f.evidence.is_empty() {
        // Infallible: Evidence is plain strings.
        m.insert(
            "evidence".into(),
            serde_json::to_value(&f.evidence).unwrap_or(Value::Null),
        );
    }
    if !f.attributions.is_empty() {
        m.insert(
            "attributions".into(),
            strings(f.attributions.iter().map(String::as_str)),
        );
    }
    let mut rec = Map::new();
    if let Some(file) = &f.record.file {
        rec.insert("file".into(), Value::String(file.clone()));
    }
    if let Some(line) = f.record.line {
        rec.insert("line".into(), Value::from(line));
    }
    if let Some(i) = f.record.index {
        rec.insert("index".into(), Value::from(i));
    }
    if let Some(id) = &f.record.record_id {
        rec.insert("id".into(), Value::String(id.clone()));
    }
    if !rec.is_empty() {
        m.insert("record".into(), Value::Object(rec));
    }
    set_path(obj, "killchain", Value::Object(m));
}

/// Does `obj` already hold a non-null value at `path`, nested, as a flat
/// dotted key, or a mix (`{"host": {"name": ..}}`, `{"host.name": ..}`)?
fn has_path(obj: &Map<String, Value>, path: &str) -> bool {
    if obj.get(path).is_some_and(|v| !v.is_null()) {
        return true;
    }
    // Try every split point: "a.b.c" -> ("a", "b.c"), ("a.b", "c").
    path.match_indices('.')
        .any(|(i, _)| match obj.get(&path[..i]) {
            Some(Value::Object(m)) => has_path(m, &path[i + 1..]),
            _ => false,
        })
}

fn set_if_absent(obj: &mut Map<String, Value>, path: &str, value: Value) {
    if !has_path(obj, path) {
        set_path(obj, path, value);
    }
}

/// Write `value` at a dotted path. A flat dotted key already holding the
/// path is replaced in place; otherwise objects are created as needed. Where
/// an intermediate field exists but is not an object (`"threat": "high"`),
/// the original is kept and the value goes to a flat dotted key at the root,
/// so nothing is overwritten.
pub fn set_path(obj: &mut Map<String, Value>, path: &str, value: Value) {
    if let Some(slot) = obj.get_mut(path) {
        *slot = value;
        return;
    }
    if can_nest(obj, path) {
        let mut cur = obj;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                cur.insert(part.to_string(), value);
                return;
            }
            let next = cur
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            match next {
                Value::Object(m) => cur = m,
                // can_nest checked every intermediate; unreachable in practice.
                _ => return,
            }
        }
    } else {
        obj.insert(path.to_string(), value);
    }
}

fn can_nest(obj: &Map<String, Value>, path: &str) -> bool {
    let mut cur = obj;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        match cur.get(*part) {
            None => return true,
            Some(Value::Object(m)) => cur = m,
            Some(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_path_nests_merges_and_never_clobbers() {
        let mut v = json!({"threat": {"indicator": {"ip": "1.2.3.4"}}, "host": "srv1"});
        let obj = v.as_object_mut().unwrap();
        set_path(obj, "threat.tactic.id", json!(["TA0002"]));
        set_path(obj, "host.name", json!("srv1"));
        assert_eq!(obj["threat"]["indicator"]["ip"], "1.2.3.4");
        assert_eq!(obj["threat"]["tactic"]["id"], json!(["TA0002"]));
        // `host` is a string: it stays, the new field goes to a flat key.
        assert_eq!(obj["host"], "srv1");
        assert_eq!(obj["host.name"], "srv1");
    }

    #[test]
    fn set_path_replaces_flat_dotted_key() {
        let mut v = json!({"threat.technique.id": "T1059.001"});
        let obj = v.as_object_mut().unwrap();
        set_path(obj, "threat.technique.id", json!(["T1059"]));
        assert_eq!(obj.len(), 1);
        assert_eq!(obj["threat.technique.id"], json!(["T1059"]));
    }
}
