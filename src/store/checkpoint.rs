//! WAL checkpoints on their own thread and connection, so the writer's commits never stop to
//! copy the log back into the database (SQLite's automatic checkpoint runs inside whichever
//! COMMIT crosses the threshold: that scan waits for it, and so does its whole batch).
//!
//! A passive checkpoint runs every [`INTERVAL`]; it never waits for readers or the writer.
//! Under steady load it never quite catches up (the writer has always committed again by the
//! time it finishes), so the log would grow without end. The log is kept bounded by a
//! truncating checkpoint, which copies what is left and cuts the file to nothing:
//! - when the log holds [`TRUNCATE_PAGES`] pages or more (about 4 MB), and
//! - when the passive checkpoint has caught up (nothing to copy: only the file is cut, which
//!   also hands the space of a log that grew while a disk was full back to the disk).
//!
//! A truncating checkpoint must have the writer wait and every reader be on the newest
//! snapshot; it waits at most [`WAIT`] for that (the writer is held up no longer than that
//! plus the copy) and otherwise tries again at the next interval. A reader that holds an old
//! snapshot for long (a report over a million charts) lets the log grow until it lets go.
//! Under steady scan load with readers coming and going the log file stays under 16 MB
//! (`tests/api/ledger.rs`, `the_write_ahead_log_stays_under_16_mb_under_steady_load`).

use rusqlite::Connection;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_millis(100);
/// About 4 MB of log with 4 KiB pages.
pub const TRUNCATE_PAGES: i64 = 1_024;
/// How long a truncating checkpoint waits for the writer's transaction and old readers.
pub const WAIT: Duration = Duration::from_millis(50);

pub struct Checkpointer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A lock whose data (an `Option` taken or read) stays valid even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// The writer or a reader held on longer than [`WAIT`]: not a failure, the next round retries.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Checkpointer {
    pub fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        // The truncating checkpoint waits this long, no longer, for the writer and readers.
        conn.busy_timeout(WAIT)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chartrack-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(INTERVAL) {
                    match checkpoint(&conn, "PASSIVE") {
                        Ok((_, log, copied))
                            if log >= TRUNCATE_PAGES || (log > 0 && copied == log) =>
                        {
                            match checkpoint(&conn, "TRUNCATE") {
                                Ok(_) => {} // done, or busy: tried again next time
                                Err(e) if busy(&e) => {}
                                Err(e) => {
                                    tracing::warn!(error = %e, "truncating checkpoint failed; will retry")
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(e) if busy(&e) => {}
                        Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The thread is running (not stopped, not died).
    pub fn alive(&self) -> bool {
        lock(&self.thread)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Stop the thread (the last connection to close checkpoints the whole log).
    pub fn shutdown(&self) {
        lock(&self.stop).take();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{LocationCode, LocationKind};
    use crate::store::admin::{create_location, NewLocation};
    use crate::store::{Options, Store};
    use rusqlite::{Connection, OpenFlags};

    fn rows_in_main_file(db: &std::path::Path) -> i64 {
        // `immutable=1` reads the database file alone, ignoring the write-ahead log. While the
        // checkpoint thread is copying pages into it the file can be caught half-written (the
        // migrations rebuild tables): such a read counts as "not yet", and the loop reads again.
        let uri = format!("file:{}?immutable=1", db.display());
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let count = || -> rusqlite::Result<i64> {
            let c = Connection::open_with_flags(&uri, flags)?;
            let tables: i64 = c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'location'",
                [],
                |r| r.get(0),
            )?;
            if tables == 0 {
                return Ok(0); // not even the schema has been copied from the log yet
            }
            c.query_row("SELECT count(*) FROM location", [], |r| r.get(0))
        };
        count().unwrap_or(-1)
    }

    #[test]
    fn the_checkpoint_thread_copies_committed_writes_into_the_database_file() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let store = Store::open(&db, Options::default()).unwrap();
        let now = store.clock().now();

        // Act
        store
            .write_blocking(move |c| {
                for i in 0..50 {
                    let l = NewLocation {
                        code: LocationCode::parse(&format!("U{i}")).unwrap(),
                        name: format!("Unit {i}"),
                        kind: LocationKind::Unit,
                        barcode: None,
                        terminal: None,
                    };
                    create_location(c, &l, now)?;
                }
                Ok(())
            })
            .unwrap();

        // Assert: the writer's automatic checkpoint is off, so only the checkpoint thread can
        // copy the rows from the log into the database file; wait for that, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rows_in_main_file(&db) < 50 {
            assert!(
                std::time::Instant::now() < deadline,
                "the checkpoint thread did not copy the rows within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(rows_in_main_file(&db), 50);
        store.shutdown();
    }
}
