//! WAL checkpoints on their own thread and connection, so the writer's commits never stop to
//! copy the log back into the database (SQLite's automatic checkpoint runs inside whichever
//! COMMIT crosses the threshold: that scan waits for it, and so does its whole batch).
//!
//! A passive checkpoint runs every [`INTERVAL`]; it never waits for readers or the writer.
//! If the log still holds more than [`RESTART_PAGES`] pages (the writer never paused long
//! enough for it to catch up), a restart checkpoint waits briefly for the writer so the log
//! starts again from its beginning and does not grow without end.

use rusqlite::Connection;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_millis(500);
/// About 64 MB of log with 4 KiB pages.
pub const RESTART_PAGES: i64 = 16_384;

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

impl Checkpointer {
    pub fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chartrack-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(INTERVAL) {
                    match checkpoint(&conn, "PASSIVE") {
                        Ok((_, log, _)) if log > RESTART_PAGES => {
                            if let Err(e) = checkpoint(&conn, "RESTART") {
                                tracing::warn!(error = %e, "restart checkpoint failed; will retry");
                            }
                        }
                        Ok(_) => {}
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
