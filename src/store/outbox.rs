//! The agent's durable outbox: scans read at a remote station and not yet answered by the
//! server, oldest first, in a small SQLite file of their own (WAL, `synchronous=FULL`). A scan
//! is in the outbox before the scanner hears anything, and leaves it only when the server has
//! answered (or refused it for good, when it moves to `rejected` with the reason).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pending (
    seq        INTEGER PRIMARY KEY,
    scan_id    TEXT NOT NULL UNIQUE,
    value      TEXT NOT NULL,
    scanned_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq        INTEGER PRIMARY KEY,
    scan_id    TEXT NOT NULL UNIQUE,
    value      TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    reason     TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: i64,
    pub scan_id: uuid::Uuid,
    pub value: String,
    pub scanned_at: DateTime<Utc>,
}

pub struct Outbox {
    conn: Mutex<Connection>,
}

impl Outbox {
    pub fn open(path: &Path) -> anyhow::Result<Outbox> {
        let conn = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the agent queue {}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        if mode != "wal" || sync != 2 {
            anyhow::bail!(
                "the agent queue {} is not durable (journal_mode {mode}, synchronous {sync})",
                path.display()
            );
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Outbox {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves the connection usable (an open
        // transaction is rolled back when it is dropped).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keep a scan until the server answers it; durable when this returns.
    pub fn push(
        &self,
        scan_id: uuid::Uuid,
        value: &str,
        scanned_at: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        self.conn()
            .prepare_cached("INSERT INTO pending (scan_id, value, scanned_at) VALUES (?1, ?2, ?3)")?
            .execute(params![
                scan_id.to_string(),
                value,
                crate::clock::stamp(scanned_at)
            ])?;
        Ok(())
    }

    /// The oldest waiting scan. A waiting row that cannot be read back (its id or time
    /// damaged) is moved to `rejected` with the reason, so it neither blocks the scans behind
    /// it nor is lost.
    pub fn oldest(&self) -> rusqlite::Result<Option<Pending>> {
        let c = self.conn();
        loop {
            let row = c
                .prepare_cached(
                    "SELECT seq, scan_id, value, scanned_at FROM pending ORDER BY seq LIMIT 1",
                )?
                .query_row([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .optional()?;
            let Some((seq, id, value, at)) = row else {
                return Ok(None);
            };
            let reason = match (id.parse(), DateTime::parse_from_rfc3339(&at)) {
                (Ok(scan_id), Ok(at)) => {
                    return Ok(Some(Pending {
                        seq,
                        scan_id,
                        value,
                        scanned_at: at.into(),
                    }))
                }
                (Err(_), _) => "damaged in the agent queue: its scan id is not a UUID",
                (_, Err(_)) => "damaged in the agent queue: its scan time is not a time",
            };
            tracing::error!(
                seq,
                reason,
                "a queued scan cannot be read back; it is set aside in the queue's rejected table"
            );
            c.execute_batch("BEGIN IMMEDIATE")?;
            let moved = (|| {
                c.execute(
                    "INSERT INTO rejected (seq, scan_id, value, scanned_at, reason, rejected_at)
                     SELECT seq, scan_id, value, scanned_at, ?2, ?3 FROM pending WHERE seq = ?1",
                    params![seq, reason, crate::clock::stamp(Utc::now())],
                )?;
                c.execute("DELETE FROM pending WHERE seq = ?", [seq])?;
                c.execute_batch("COMMIT")
            })();
            if let Err(e) = moved {
                let _ = c.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }

    /// The server has it.
    pub fn delivered(&self, seq: i64) -> rusqlite::Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM pending WHERE seq = ?")?
            .execute([seq])?;
        Ok(())
    }

    /// The server refused it for good (not a retryable failure): keep it aside with the reason.
    pub fn reject(&self, p: &Pending, reason: &str, now: DateTime<Utc>) -> rusqlite::Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO rejected (seq, scan_id, value, scanned_at, reason, rejected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.seq, p.scan_id.to_string(), p.value, crate::clock::stamp(p.scanned_at), reason, crate::clock::stamp(now)],
        )?;
        tx.execute("DELETE FROM pending WHERE seq = ?", [p.seq])?;
        tx.commit()
    }

    /// Scans waiting, and scans refused for good.
    pub fn counts(&self) -> rusqlite::Result<(i64, i64)> {
        self.conn().query_row(
            "SELECT (SELECT count(*) FROM pending), (SELECT count(*) FROM rejected)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_come_out_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let at = chrono::Utc::now();
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
        {
            let q = Outbox::open(&path).unwrap();
            for (i, id) in ids.iter().enumerate() {
                q.push(*id, &format!("V{i}"), at).unwrap();
            }
            let first = q.oldest().unwrap().unwrap();
            q.delivered(first.seq).unwrap();
        }
        let q = Outbox::open(&path).unwrap();
        let next = q.oldest().unwrap().unwrap();
        assert_eq!((next.scan_id, next.value.as_str()), (ids[1], "V1"));
        q.reject(&next, "unknown station", at).unwrap();
        assert_eq!(q.oldest().unwrap().unwrap().scan_id, ids[2]);
        assert_eq!(q.counts().unwrap(), (1, 1));
        assert!(
            q.push(ids[2], "again", at).is_err(),
            "a scan id is queued once"
        );
    }
}
