//! The decision journal: one row per part, durable before the actuator fires.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a committed row survives a power cut, a crash
//! mid-write leaves the journal consistent (no torn lines to repair, unlike an append-only log),
//! and `edge-tool history` can query by time and verdict while the daemon writes, since WAL
//! readers do not block the writer.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::decision::{Action, Decision};
use super::source::Settlement;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: cannot create the journal's folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("{path}: journal: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
}

pub struct Journal {
    path: PathBuf,
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    part TEXT NOT NULL,
    origin TEXT NOT NULL,
    time TEXT NOT NULL,
    unix_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    fault TEXT,
    object_score REAL,
    threshold REAL,
    model TEXT NOT NULL,
    stages_ms TEXT NOT NULL,
    total_ms REAL NOT NULL,
    heatmap TEXT
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (unix_ms);
CREATE INDEX IF NOT EXISTS decisions_origin ON decisions (origin);
";

/// Which rows `history` wants.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub rejects_only: bool,
    pub since_unix_ms: Option<i64>,
    pub limit: Option<usize>,
}

impl Journal {
    /// Opens (creating folder and table if needed) the journal for writing.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Folder { path: path.to_path_buf(), source })?;
        }
        let journal = Journal::connect(path, Connection::open(path))?;
        journal.run(|db| db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").and_then(|_| db.execute_batch(SCHEMA)))?;
        Ok(journal)
    }

    /// Opens an existing journal read-only (for `history`).
    pub fn read_only(path: &Path) -> Result<Journal, JournalError> {
        Journal::connect(path, Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY))
    }

    fn connect(path: &Path, db: rusqlite::Result<Connection>) -> Result<Journal, JournalError> {
        let db = db.map_err(|source| JournalError::Db { path: path.to_path_buf(), source })?;
        Ok(Journal { path: path.to_path_buf(), db })
    }

    fn run<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        work(&self.db).map_err(|source| JournalError::Db { path: self.path.clone(), source })
    }

    /// Appends one decision; when this returns, the row is on disk.
    pub fn record(&self, d: &Decision) -> Result<(), JournalError> {
        let stages = serde_json::to_string(&d.stages_ms).unwrap_or_default();
        self.run(|db| {
            db.execute(
                "INSERT INTO decisions (part, origin, time, unix_ms, action, reason, fault, object_score, threshold, model, stages_ms, total_ms, heatmap)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![d.part, d.origin, d.time, d.unix_ms, d.action.as_str(), d.reason, d.fault, d.object_score, d.threshold, d.model, stages, d.total_ms, d.heatmap],
            )
            .map(|_| ())
        })
    }

    /// How the part from `origin` was settled, if it has a decision (spool recovery after a crash).
    pub fn settlement(&self, origin: &str) -> Result<Option<Settlement>, JournalError> {
        let fault: Option<Option<String>> = self.run(|db| {
            db.query_row("SELECT fault FROM decisions WHERE origin = ?1 ORDER BY id DESC LIMIT 1", [origin], |row| row.get(0))
                .optional()
        })?;
        Ok(fault.map(|f| if f.is_some() { Settlement::Failed } else { Settlement::Inspected }))
    }

    /// Decisions matching `query`, oldest first.
    pub fn query(&self, query: &Query) -> Result<Vec<Decision>, JournalError> {
        let sql = format!(
            "SELECT part, origin, time, unix_ms, action, reason, fault, object_score, threshold, model, stages_ms, total_ms, heatmap
             FROM (SELECT * FROM decisions WHERE unix_ms >= ?1 {} ORDER BY id DESC LIMIT ?2) ORDER BY id",
            if query.rejects_only { "AND action = 'reject'" } else { "" }
        );
        let limit = query.limit.map_or(-1, |l| l as i64);
        self.run(|db| {
            let mut statement = db.prepare(&sql)?;
            let rows = statement.query_map(params![query.since_unix_ms.unwrap_or(i64::MIN), limit], row_decision)?;
            rows.collect()
        })
    }
}

fn row_decision(row: &rusqlite::Row) -> rusqlite::Result<Decision> {
    let action: String = row.get(4)?;
    let stages: String = row.get(10)?;
    Ok(Decision {
        part: row.get(0)?,
        origin: row.get(1)?,
        time: row.get(2)?,
        unix_ms: row.get(3)?,
        action: if action == "pass" { Action::Pass } else { Action::Reject },
        reason: row.get(5)?,
        fault: row.get(6)?,
        object_score: row.get(7)?,
        threshold: row.get(8)?,
        model: row.get(9)?,
        stages_ms: serde_json::from_str(&stages).unwrap_or_default(),
        total_ms: row.get(11)?,
        heatmap: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(part: &str, action: Action, fault: Option<&str>, unix_ms: i64) -> Decision {
        Decision {
            part: part.into(),
            origin: format!("spool {part}.pcd"),
            time: "2026-11-29T05:00:00.000Z".into(),
            unix_ms,
            action,
            reason: "test".into(),
            fault: fault.map(str::to_string),
            object_score: Some(1.5),
            threshold: Some(1.1),
            model: "bunny 1.0.0".into(),
            stages_ms: vec![("score".into(), 6.5)],
            total_ms: 210.0,
            heatmap: None,
        }
    }

    #[test]
    fn rows_survive_reopening_and_filter_by_verdict_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/journal.db");
        {
            let journal = Journal::open(&path).unwrap();
            journal.record(&decision("p1", Action::Pass, None, 1_000)).unwrap();
            journal.record(&decision("p2", Action::Reject, Some("deadline missed"), 2_000)).unwrap();
            journal.record(&decision("p3", Action::Reject, None, 3_000)).unwrap();
        }
        let journal = Journal::read_only(&path).unwrap();
        let all = journal.query(&Query::default()).unwrap();
        assert_eq!(all.iter().map(|d| d.part.as_str()).collect::<Vec<_>>(), ["p1", "p2", "p3"]);
        assert_eq!(all[1], decision("p2", Action::Reject, Some("deadline missed"), 2_000));
        let rejects = journal.query(&Query { rejects_only: true, since_unix_ms: Some(2_500), limit: None }).unwrap();
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].part, "p3");
        assert_eq!(journal.settlement("spool p2.pcd").unwrap(), Some(Settlement::Failed));
        assert_eq!(journal.settlement("spool p3.pcd").unwrap(), Some(Settlement::Inspected));
        assert_eq!(journal.settlement("spool p4.pcd").unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        std::fs::write(&path, b"this is not sqlite, just some bytes that are long enough to matter..........").unwrap();
        let message = Journal::open(&path).err().unwrap().to_string();
        assert!(message.contains("journal.db"), "{message}");
    }
}
