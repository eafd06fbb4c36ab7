//! The decision journal: one row per part, durable before the actuator fires.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a committed row survives a power cut, a crash
//! mid-write leaves the journal consistent (no torn lines to repair, unlike an append-only log),
//! and `edge-tool history` can query by time and verdict while the daemon writes, since WAL
//! readers do not block the writer.
//!
//! Schema 2 (`PRAGMA user_version`): `decisions` also records each fault's kind and each reject's
//! pulse, and `taken`
//! holds the parts taken from the source and not decided yet: a row there at start means the
//! daemon died reading or inspecting that part. A schema-1 journal (no user_version) or a
//! schema-2 one is migrated when the daemon opens it; `history` reads all three.
//!
//! Schema 3 adds the MQTT outbox (`src/daemon/publish.rs`): `decisions.published` is NULL while
//! the row waits to be published, the unix ms of the broker's PUBACK once it was, and 0 for a row
//! left unpublished because the outbox passed `[publish] max_backlog`. A partial index keeps the
//! waiting rows cheap to find however long the journal grows.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::decision::{Action, Decision, FaultKind, PulseState};
use super::source::Settlement;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: cannot create the journal's folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("{path}: journal: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: journal schema {found} is newer than this dus-edge knows ({SCHEMA_VERSION}); use a newer edge-tool")]
    Newer { path: PathBuf, found: i64 },
}

/// The schema this code writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Where a taken, undecided part is: after a crash, `Reading` and `Inspecting` name the scan that
/// may have killed the daemon; a `Queued` one was read fine and waited its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Reading,
    Queued,
    Inspecting,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reading => "reading",
            Stage::Queued => "queued",
            Stage::Inspecting => "inspecting",
        }
    }

    fn parse(text: &str) -> Stage {
        [Stage::Queued, Stage::Inspecting].into_iter().find(|s| s.as_str() == text).unwrap_or(Stage::Reading)
    }
}

/// A part taken from the source with no decision yet.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenRow {
    pub id: i64,
    pub part: String,
    pub origin: String,
    pub unix_ms: i64,
    pub stage: Stage,
}

pub struct Journal {
    path: PathBuf,
    db: Connection,
    /// The schema of the file (schema 1 only when opened read-only).
    version: i64,
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

/// From schema 1 (or nothing) to 2, in one transaction.
const MIGRATE_TO_2: &str = "
ALTER TABLE decisions ADD COLUMN fault_kind TEXT;
ALTER TABLE decisions ADD COLUMN pulse TEXT;
ALTER TABLE decisions ADD COLUMN pulse_unix_ms INTEGER;
UPDATE decisions SET pulse = 'unrecorded' WHERE action = 'reject';
{FAULT_KINDS}
CREATE TABLE taken (id INTEGER PRIMARY KEY, part TEXT NOT NULL, origin TEXT NOT NULL, unix_ms INTEGER NOT NULL, stage TEXT NOT NULL);
PRAGMA user_version = 2;
";

/// From schema 2 to 3: the outbox marker. Rows written before it wait to be published like new
/// ones (bounded by `[publish] max_backlog` once publishing is on).
const MIGRATE_TO_3: &str = "
ALTER TABLE decisions ADD COLUMN published INTEGER;
CREATE INDEX decisions_outbox ON decisions (id) WHERE published IS NULL;
PRAGMA user_version = 3;
";

/// `published` of a row the outbox gave up on (beyond `max_backlog`).
const SKIPPED: i64 = 0;

/// The columns [`row_decision`] reads, in its order.
const DECISION_COLUMNS: &str =
    "part, origin, time, unix_ms, action, reason, fault, object_score, threshold, model, stages_ms, total_ms, heatmap, pulse, pulse_unix_ms, fault_kind";

/// Which rows `history` wants.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub rejects_only: bool,
    pub since_unix_ms: Option<i64>,
    pub limit: Option<usize>,
    /// Only rejects whose pulse did not fire (missed, failed, or never settled).
    pub missed_only: bool,
}

impl Journal {
    /// Opens (creating folder and table if needed) the journal for writing.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::durable::create_dir_all(dir).map_err(|source| JournalError::Folder { path: path.to_path_buf(), source })?;
        }
        let mut journal = Journal::connect(path, Connection::open(path))?;
        journal.run(|db| db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"))?;
        if journal.version < SCHEMA_VERSION {
            let to_2 = if journal.version < 2 {
                format!("{SCHEMA} {}", MIGRATE_TO_2.replace("{FAULT_KINDS}", &fault_kinds_from_text()))
            } else {
                String::new()
            };
            journal.run(|db| db.execute_batch(&format!("BEGIN; {to_2} {MIGRATE_TO_3} COMMIT;")))?;
            journal.version = SCHEMA_VERSION;
        }
        Ok(journal)
    }

    /// The MQTT publisher's own connection. Its commits skip the fsync (`synchronous = NORMAL`;
    /// WAL keeps them atomic): a mark lost in a power cut only means one more duplicate at QoS 1,
    /// and the write lock is never held through an fsync while a decision waits to be journaled.
    pub fn open_outbox(path: &Path) -> Result<Journal, JournalError> {
        let journal = Journal::open(path)?;
        journal.run(|db| db.execute_batch("PRAGMA synchronous = NORMAL;"))?;
        Ok(journal)
    }

    /// Opens an existing journal read-only (for `history`).
    pub fn read_only(path: &Path) -> Result<Journal, JournalError> {
        Journal::connect(path, Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY))
    }

    fn connect(path: &Path, db: rusqlite::Result<Connection>) -> Result<Journal, JournalError> {
        let db = db.map_err(|source| JournalError::Db { path: path.to_path_buf(), source })?;
        let version = db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| JournalError::Db { path: path.to_path_buf(), source })?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::Newer { path: path.to_path_buf(), found: version });
        }
        Ok(Journal { path: path.to_path_buf(), db, version })
    }

    fn run<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        work(&self.db).map_err(|source| JournalError::Db { path: self.path.clone(), source })
    }

    /// Records that a part was taken from the source, before its scan is read; the row id.
    pub fn take(&self, part: &str, origin: &str, unix_ms: i64) -> Result<i64, JournalError> {
        self.run(|db| {
            db.execute("INSERT INTO taken (part, origin, unix_ms, stage) VALUES (?1, ?2, ?3, 'reading')", params![part, origin, unix_ms])?;
            Ok(db.last_insert_rowid())
        })
    }

    /// Moves a taken part on to `stage`.
    pub fn advance(&self, taken: i64, stage: Stage) -> Result<(), JournalError> {
        self.run(|db| db.execute("UPDATE taken SET stage = ?1 WHERE id = ?2", params![stage.as_str(), taken]).map(|_| ()))
    }

    /// Drops a taken row without a decision: its scan is queued again from the spool.
    pub fn forget(&self, taken: i64) -> Result<(), JournalError> {
        self.run(|db| db.execute("DELETE FROM taken WHERE id = ?1", [taken]).map(|_| ()))
    }

    /// Parts taken and never decided: the daemon died while reading or inspecting them.
    pub fn undecided(&self) -> Result<Vec<TakenRow>, JournalError> {
        self.run(|db| {
            let mut statement = db.prepare("SELECT id, part, origin, unix_ms, stage FROM taken ORDER BY id")?;
            let rows = statement.query_map([], |row| {
                let stage = Stage::parse(&row.get::<_, String>(4)?);
                Ok(TakenRow { id: row.get(0)?, part: row.get(1)?, origin: row.get(2)?, unix_ms: row.get(3)?, stage })
            })?;
            rows.collect()
        })
    }

    /// Appends one decision and clears its part's `taken` row in the same transaction; when this
    /// returns, both are on disk. The decision's row id.
    pub fn record(&self, d: &Decision, taken: Option<i64>) -> Result<i64, JournalError> {
        let stages = serde_json::to_string(&d.stages_ms).unwrap_or_default();
        self.run(|db| {
            let transaction = db.unchecked_transaction()?;
            transaction.execute(
                "INSERT INTO decisions (part, origin, time, unix_ms, action, reason, fault, object_score, threshold, model, stages_ms, total_ms, heatmap, pulse, pulse_unix_ms, fault_kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    d.part, d.origin, d.time, d.unix_ms, d.action.as_str(), d.reason, d.fault, d.object_score, d.threshold, d.model, stages,
                    d.total_ms, d.heatmap, d.pulse.map(PulseState::as_str), d.pulse_unix_ms, d.fault_kind.map(FaultKind::as_str)
                ],
            )?;
            let id = transaction.last_insert_rowid();
            if let Some(taken) = taken {
                transaction.execute("DELETE FROM taken WHERE id = ?1", [taken])?;
            }
            transaction.commit()?;
            Ok(id)
        })
    }

    /// Records what became of the pulse of decision `row`.
    pub fn pulsed(&self, row: i64, state: PulseState, unix_ms: i64) -> Result<(), JournalError> {
        self.run(|db| {
            db.execute("UPDATE decisions SET pulse = ?1, pulse_unix_ms = ?2 WHERE id = ?3", params![state.as_str(), unix_ms, row])
                .map(|_| ())
        })
    }

    /// How the part from `origin` was settled, if it has a decision (spool recovery after a crash).
    pub fn settlement(&self, origin: &str) -> Result<Option<Settlement>, JournalError> {
        let fault: Option<Option<String>> = self.run(|db| {
            db.query_row("SELECT fault FROM decisions WHERE origin = ?1 ORDER BY id DESC LIMIT 1", [origin], |row| row.get(0)).optional()
        })?;
        Ok(fault.map(|f| if f.is_some() { Settlement::Failed } else { Settlement::Inspected }))
    }

    /// Decisions matching `query`, oldest first.
    pub fn query(&self, query: &Query) -> Result<Vec<Decision>, JournalError> {
        let pulse = if self.version < 2 {
            format!(", 'unrecorded' AS pulse, NULL AS pulse_unix_ms, {} AS fault_kind", fault_kind_case())
        } else {
            String::new()
        };
        let only = match (query.missed_only, query.rejects_only) {
            (true, _) if self.version < 2 => "AND 0",
            (true, _) => "AND action = 'reject' AND (pulse IS NULL OR pulse IN ('missed', 'failed'))",
            (false, true) => "AND action = 'reject'",
            (false, false) => "",
        };
        let sql = format!("SELECT {DECISION_COLUMNS} FROM (SELECT *{pulse} FROM decisions WHERE unix_ms >= ?1 {only} ORDER BY id DESC LIMIT ?2) ORDER BY id");
        let limit = query.limit.map_or(-1, |l| l as i64);
        self.run(|db| {
            let mut statement = db.prepare(&sql)?;
            let rows = statement.query_map(params![query.since_unix_ms.unwrap_or(i64::MIN), limit], row_decision)?;
            rows.collect()
        })
    }

    /// Up to `limit` rows waiting in the outbox after row `after`, oldest first, with their ids.
    pub fn outbox(&self, after: i64, limit: usize) -> Result<Vec<(i64, Decision)>, JournalError> {
        let sql = format!("SELECT {DECISION_COLUMNS}, id FROM decisions WHERE published IS NULL AND id > ?1 ORDER BY id LIMIT ?2");
        self.run(|db| {
            let mut statement = db.prepare_cached(&sql)?;
            let rows = statement.query_map(params![after, limit as i64], |row| Ok((row.get(16)?, row_decision(row)?)))?;
            rows.collect()
        })
    }

    /// Marks `rows` published (the broker acknowledged them at `unix_ms`), in one transaction.
    pub fn mark_published(&self, rows: &[i64], unix_ms: i64) -> Result<(), JournalError> {
        self.run(|db| {
            let transaction = db.unchecked_transaction()?;
            {
                let mut statement = transaction.prepare_cached("UPDATE decisions SET published = ?1 WHERE id = ?2")?;
                for row in rows {
                    statement.execute([unix_ms.max(1), *row])?;
                }
            }
            transaction.commit()
        })
    }

    /// Rows waiting in the outbox.
    pub fn backlog(&self) -> Result<u64, JournalError> {
        self.run(|db| db.query_row("SELECT count(*) FROM decisions WHERE published IS NULL", [], |row| row.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    /// Gives up on the oldest waiting rows beyond the newest `keep`: they stay in the journal,
    /// marked as never to be published. How many were given up.
    pub fn skip_beyond(&self, keep: u64) -> Result<usize, JournalError> {
        self.run(|db| {
            db.execute(
                "UPDATE decisions SET published = ?1 WHERE published IS NULL
                 AND id <= (SELECT id FROM decisions WHERE published IS NULL ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![SKIPPED, keep as i64],
            )
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
        pulse: row.get::<_, Option<String>>(13)?.map(|p| PulseState::parse(&p)),
        pulse_unix_ms: row.get(14)?,
        fault_kind: row.get::<_, Option<String>>(15)?.and_then(|k| FaultKind::parse(&k)),
    })
}

/// SQL giving a schema-1 row's fault kind from the words its fault text starts with.
fn fault_kind_case() -> String {
    let arms: String = FaultKind::ALL.iter().map(|k| format!(" WHEN fault LIKE '{}%' THEN '{}'", k.words(), k.as_str())).collect();
    format!("(CASE{arms} ELSE NULL END)")
}

/// The migration's statement filling `fault_kind` for the rows schema 1 wrote.
fn fault_kinds_from_text() -> String {
    format!("UPDATE decisions SET fault_kind = {} WHERE fault IS NOT NULL;", fault_kind_case())
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
            fault_kind: fault.map(|_| FaultKind::DeadlineMissed),
            object_score: Some(1.5),
            threshold: Some(1.1),
            model: "bunny 1.0.0".into(),
            stages_ms: vec![("score".into(), 6.5)],
            total_ms: 210.0,
            heatmap: None,
            pulse: None,
            pulse_unix_ms: None,
        }
    }

    #[test]
    fn rows_survive_reopening_and_filter_by_verdict_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/journal.db");
        {
            let journal = Journal::open(&path).unwrap();
            journal.record(&decision("p1", Action::Pass, None, 1_000), None).unwrap();
            journal.record(&decision("p2", Action::Reject, Some("deadline missed"), 2_000), None).unwrap();
            journal.record(&decision("p3", Action::Reject, None, 3_000), None).unwrap();
        }
        let journal = Journal::read_only(&path).unwrap();
        let all = journal.query(&Query::default()).unwrap();
        assert_eq!(all.iter().map(|d| d.part.as_str()).collect::<Vec<_>>(), ["p1", "p2", "p3"]);
        assert_eq!(all[1], decision("p2", Action::Reject, Some("deadline missed"), 2_000));
        let rejects = journal.query(&Query { rejects_only: true, since_unix_ms: Some(2_500), ..Query::default() }).unwrap();
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].part, "p3");
        assert_eq!(journal.settlement("spool p2.pcd").unwrap(), Some(Settlement::Failed));
        assert_eq!(journal.settlement("spool p3.pcd").unwrap(), Some(Settlement::Inspected));
        assert_eq!(journal.settlement("spool p4.pcd").unwrap(), None);
    }

    #[test]
    fn a_taken_part_stays_undecided_until_its_decision_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        let (a, b) = (journal.take("a", "spool a.pcd", 10).unwrap(), journal.take("b", "spool b.pcd", 20).unwrap());
        let c = journal.take("c", "spool c.pcd", 25).unwrap();
        journal.advance(b, Stage::Queued).unwrap();
        journal.record(&decision("a", Action::Pass, None, 30), Some(a)).unwrap();
        journal.forget(c).unwrap();
        assert_eq!(
            journal.undecided().unwrap(),
            [TakenRow { id: b, part: "b".into(), origin: "spool b.pcd".into(), unix_ms: 20, stage: Stage::Queued }]
        );
    }

    #[test]
    fn pulses_are_recorded_and_missed_ones_listed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        let fired = journal.record(&decision("fired", Action::Reject, None, 1), None).unwrap();
        let late = journal.record(&decision("late", Action::Reject, None, 2), None).unwrap();
        journal.record(&decision("never", Action::Reject, None, 3), None).unwrap();
        journal.record(&decision("pass", Action::Pass, None, 4), None).unwrap();
        journal.pulsed(fired, PulseState::Fired, 5).unwrap();
        journal.pulsed(late, PulseState::Missed, 6).unwrap();
        let missed = journal.query(&Query { missed_only: true, ..Query::default() }).unwrap();
        assert_eq!(
            missed.iter().map(|d| (d.part.as_str(), d.pulse)).collect::<Vec<_>>(),
            [("late", Some(PulseState::Missed)), ("never", None)]
        );
        let all = journal.query(&Query::default()).unwrap();
        assert_eq!((all[0].pulse, all[0].pulse_unix_ms), (Some(PulseState::Fired), Some(5)));
    }

    #[test]
    fn a_schema_1_journal_is_readable_and_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        // Schema 1 as the previous release wrote it: no user_version, no pulse columns.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA).unwrap();
        old.execute(
            "INSERT INTO decisions (part, origin, time, unix_ms, action, reason, fault, object_score, threshold, model, stages_ms, total_ms, heatmap)
             VALUES ('old', 'spool old.pcd', '2026-11-29T05:00:00.000Z', 1, 'reject', 'r', 'queue full: 4 scans already waiting for detection', NULL, NULL, '-', '[]', 210.0, NULL)",
            [],
        )
        .unwrap();
        drop(old);
        let before = Journal::read_only(&path).unwrap().query(&Query::default()).unwrap();
        assert_eq!((before.len(), before[0].pulse, before[0].fault_kind), (1, Some(PulseState::Unrecorded), Some(FaultKind::QueueFull)));
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.run(|db| db.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))).unwrap(), SCHEMA_VERSION);
        assert!(
            journal.query(&Query { missed_only: true, ..Query::default() }).unwrap().is_empty(),
            "old rejects are not listed as missed"
        );
        assert_eq!(journal.query(&Query::default()).unwrap()[0].fault_kind, Some(FaultKind::QueueFull), "the migration derived the kind");
        journal.take("new", "spool new.pcd", 2).unwrap();
        drop(journal);
        assert_eq!(Journal::open(&path).unwrap().undecided().unwrap().len(), 1, "reopening a migrated journal migrates nothing");
    }

    #[test]
    fn a_schema_2_journal_gets_the_outbox_on_open_with_its_rows_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        // Schema 2 as the previous release wrote it: no `published` column.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(&format!("{SCHEMA} {}", MIGRATE_TO_2.replace("{FAULT_KINDS}", ""))).unwrap();
        old.execute(
            "INSERT INTO decisions (part, origin, time, unix_ms, action, reason, model, stages_ms, total_ms, pulse, fault_kind)
             VALUES ('old', 'spool old.pcd', '2026-11-29T05:00:00.000Z', 1, 'reject', 'r', 'bunny 1.0.0', '[]', 210.0, 'fired', NULL)",
            [],
        )
        .unwrap();
        drop(old);
        assert_eq!(Journal::read_only(&path).unwrap().query(&Query::default()).unwrap()[0].part, "old", "history reads schema 2");
        let journal = Journal::open_outbox(&path).unwrap();
        assert_eq!(journal.run(|db| db.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))).unwrap(), 3);
        let new = journal.record(&decision("new", Action::Pass, None, 2), None).unwrap();
        let waiting = journal.outbox(0, 10).unwrap();
        assert_eq!(waiting.iter().map(|(_, d)| d.part.as_str()).collect::<Vec<_>>(), ["old", "new"]);
        assert_eq!(waiting[0].1.pulse, Some(PulseState::Fired));
        journal.mark_published(&[waiting[0].0], 5).unwrap();
        assert_eq!(journal.outbox(0, 10).unwrap().iter().map(|(id, _)| *id).collect::<Vec<_>>(), [new]);
        assert_eq!(journal.outbox(new, 10).unwrap().len(), 0, "nothing after the last row");
        drop(journal);
        assert_eq!(Journal::open(&path).unwrap().backlog().unwrap(), 1, "reopening a schema-3 journal migrates nothing");
    }

    #[test]
    fn the_outbox_gives_up_on_its_oldest_rows_beyond_the_backlog_but_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        let ids: Vec<i64> = (0..10).map(|i| journal.record(&decision(&format!("p{i}"), Action::Pass, None, i), None).unwrap()).collect();
        journal.mark_published(&ids[..2], 7).unwrap();
        assert_eq!(journal.backlog().unwrap(), 8);
        assert_eq!(journal.skip_beyond(5).unwrap(), 3, "p2, p3, p4 are given up");
        assert_eq!(journal.skip_beyond(5).unwrap(), 0);
        assert_eq!(journal.backlog().unwrap(), 5);
        assert_eq!(journal.outbox(0, 100).unwrap().iter().map(|(_, d)| d.part.clone()).collect::<Vec<_>>(), ["p5", "p6", "p7", "p8", "p9"]);
        assert_eq!(journal.query(&Query::default()).unwrap().len(), 10, "every row stays in the journal");
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
