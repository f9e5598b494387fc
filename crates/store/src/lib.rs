//! killchain-store: the embedded SQLite store of incidents (rusqlite,
//! bundled SQLite). The edge where correlation state persists between runs.
//!
//! Tables:
//! - `signals(key PRIMARY KEY, time, body)`: every finding ever correlated,
//!   as a [`Signal`] in JSON, keyed by its stable finding key (file + record
//!   id or line + rule id + time). Inserting is `INSERT OR IGNORE`, so
//!   replaying the same input adds nothing.
//! - `incidents(id PRIMARY KEY, first_seen, last_seen, severity, body)`: the
//!   incidents of the last run, as [`Incident`] JSON.
//! - `merges(old_id PRIMARY KEY, new_id)`: incidents that a later run merged
//!   into another, so `incident show OLD` still finds them.
//!
//! A run inserts its new signals, reads back all signals and correlates the
//! whole set again (correlation is deterministic and fast: ~1M signals/s),
//! so incidents continue across runs with the same IDs; then it replaces the
//! incident table. Keeping the live streaming state instead of replaying is
//! the step when stores outgrow memory.

use std::path::Path;

use killchain_correlate::{Incident, Signal};
use rusqlite::{params, Connection, OptionalExtension};

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored {what} {key:?} is damaged: {reason}")]
    Damaged {
        what: &'static str,
        key: String,
        reason: String,
    },
    #[error("cannot encode {0}: {1}")]
    Encode(&'static str, serde_json::Error),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signals (key TEXT PRIMARY KEY, time TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, severity REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merges (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL);
PRAGMA user_version = 1;
";

/// An open store.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating when needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// An in-memory store (tests).
    pub fn memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// Inserts signals not stored yet; returns how many were new.
    pub fn add_signals(&mut self, signals: &[Signal]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut st =
                tx.prepare("INSERT OR IGNORE INTO signals (key, time, body) VALUES (?1, ?2, ?3)")?;
            for s in signals {
                let body = serde_json::to_string(s).map_err(|e| StoreError::Encode("signal", e))?;
                added += st.execute(params![s.key, s.time.to_string(), body])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Every stored signal (ordered by key).
    pub fn signals(&self) -> Result<Vec<Signal>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT key, body FROM signals ORDER BY key")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, body) = row?;
            out.push(
                serde_json::from_str(&body).map_err(|e| StoreError::Damaged {
                    what: "signal",
                    key,
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    pub fn signal_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM signals", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// IDs of the incidents stored now.
    pub fn incident_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare("SELECT id FROM incidents ORDER BY id")?;
        let ids = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Replaces the incidents with `incidents`; an incident that named an
    /// earlier ID in `merged_from` records the merge.
    pub fn save_incidents(&mut self, incidents: &[Incident]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM incidents", [])?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO incidents (id, first_seen, last_seen, severity, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut merge =
                tx.prepare("INSERT OR REPLACE INTO merges (old_id, new_id) VALUES (?1, ?2)")?;
            for i in incidents {
                let body =
                    serde_json::to_string(i).map_err(|e| StoreError::Encode("incident", e))?;
                ins.execute(params![
                    i.id,
                    i.first_seen.to_string(),
                    i.last_seen.to_string(),
                    i.severity.score,
                    body
                ])?;
                for old in &i.merged_from {
                    merge.execute(params![old, i.id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored incident, most severe first.
    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, body FROM incidents ORDER BY severity DESC, id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(decode_incident(&id, &body)?);
        }
        Ok(out)
    }

    /// The incident `id`, following merges (an ID absorbed by a later merge
    /// gives the incident it went into). A unique ID prefix is accepted.
    pub fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let mut id = id.to_string();
        for _ in 0..16 {
            let next: Option<String> = self
                .conn
                .query_row("SELECT new_id FROM merges WHERE old_id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()?;
            match next {
                Some(n) if n != id => id = n,
                _ => break,
            }
        }
        let mut st = self
            .conn
            .prepare("SELECT id, body FROM incidents WHERE id = ?1 OR id LIKE ?2 || '%' LIMIT 2")?;
        let rows: Vec<(String, String)> = st
            .query_map(params![id, id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        match rows.as_slice() {
            [(i, body)] => Ok(Some(decode_incident(i, body)?)),
            many => Ok(many
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(i, b)| decode_incident(i, b))
                .transpose()?),
        }
    }
}

fn decode_incident(id: &str, body: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Damaged {
        what: "incident",
        key: id.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_correlate::{build, correlate_batch, BuildOptions, Config};
    use killchain_map::finding::{Entities, Finding, RecordRef};

    fn signal(t: &str, host: &str, line: u64) -> Signal {
        let f = Finding {
            time: Some(t.parse().unwrap()),
            entities: Entities {
                hosts: vec![host.into()],
                ..Entities::default()
            },
            record: RecordRef {
                file: Some("f.ndjson".into()),
                line: Some(line),
                ..RecordRef::default()
            },
            ..Finding::default()
        };
        Signal::from_finding(&f, None).unwrap()
    }

    #[test]
    fn replay_adds_nothing_and_merges_are_followed() {
        let mut store = Store::memory().unwrap();
        let a = vec![signal("2024-01-01T10:00:00Z", "ws01", 1)];
        assert_eq!(store.add_signals(&a).unwrap(), 1);
        assert_eq!(store.add_signals(&a).unwrap(), 0);
        let (raw, _, _) = correlate_batch(store.signals().unwrap(), &Config::default());
        let inc: Vec<Incident> = raw
            .into_iter()
            .map(|r| build(r, &BuildOptions::default()))
            .collect();
        store.save_incidents(&inc).unwrap();
        let first_id = inc[0].id.clone();
        // An earlier finding on the same host joins and takes over the ID.
        store
            .add_signals(&[signal("2024-01-01T09:30:00Z", "ws01", 7)])
            .unwrap();
        let (raw, _, _) = correlate_batch(store.signals().unwrap(), &Config::default());
        let inc: Vec<Incident> = raw
            .into_iter()
            .map(|r| build(r, &BuildOptions::default()))
            .collect();
        assert_eq!(inc.len(), 1);
        assert_ne!(inc[0].id, first_id);
        let mut inc = inc;
        inc[0].merged_from.push(first_id.clone());
        store.save_incidents(&inc).unwrap();
        let got = store.incident(&first_id).unwrap().unwrap();
        assert_eq!(got.id, inc[0].id);
        assert_eq!(got.findings, 2);
    }
}
