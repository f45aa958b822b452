//! WAL checkpoints on their own thread and connection, so the writer's commits never stop to
//! copy the log back into the database (SQLite's automatic checkpoint runs inside whichever
//! COMMIT crosses the threshold: that scan waits for it, and so does its whole batch).
//!
//! A passive checkpoint runs every [`INTERVAL`]; it never waits for readers or the writer.
//! Under steady load it never quite catches up (the writer has always committed again by the
//! time it finishes), so the log would grow without end. The log is kept bounded by a
//! truncating checkpoint, which copies what is left and cuts the file to nothing. It needs the
//! write lock, which a busy writer never lets go long enough for another thread to take, so:
//! - when the passive checkpoint has caught up (the writer idle), this thread truncates the log
//!   itself (nothing to copy; this also hands the space of a log that grew while a disk was
//!   full back to the disk);
//! - when the log holds [`TRUNCATE_PAGES`] pages or more (about 4 MB), it asks the writer
//!   ([`Request`]), which truncates between two batches, after answering the batch, without
//!   waiting for readers (one in the way puts it off). Past [`HOLD_PAGES`] (about 64 MB) it
//!   copies nothing itself (a passive copy of a log that long holds the checkpoint lock for
//!   seconds, against every cut the writer tries) and asks again every [`SOON`] until the log
//!   is cut; the writer copies the rest and cuts it, waiting up to [`HOLD`] for readers: a
//!   reader holding an old snapshot then holds the writer up (its callers' batches grow) rather
//!   than let the log grow. A reader holding a snapshot longer than that still lets it grow.
//!
//! - after a write fails for want of space, the writer cuts the log after every batch for
//!   [`TIGHT`]: otherwise the log, growing by a few MB between two rounds, eats the space an
//!   operator frees within a few hundred scans (the full-disk test in `tests/api/faults.rs`).
//!
//! Under steady scan load with readers coming and going the log file stays under 80 MB
//! (`tests/api/ledger.rs`, `the_write_ahead_log_stays_bounded_under_steady_load`).
//!
//! Under Litestream (`replication = "litestream"`, [`Limits::LITESTREAM`]) cutting the log is
//! Litestream's job: it holds a read transaction open all the time and checkpoints itself once
//! it has shipped the frames, so a truncating checkpoint here would wait its whole timeout on
//! every round (measured: scans fell from about 470/s to 40/s, the log grew past 15 MB), and one
//! that got through behind its back would force it to take a new snapshot. Then this thread
//! copies passively only, and the writer cuts the log only past [`LITESTREAM_TRUNCATE_PAGES`]
//! (64 MB): what keeps it bounded when Litestream is stopped or stuck.

use super::streak::Tell;
use rusqlite::Connection;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_millis(100);
/// About 4 MB of log with 4 KiB pages: the writer is asked to truncate it.
pub const TRUNCATE_PAGES: i64 = 1_024;
/// About 64 MB: asked again every [`SOON`] until it is done, waiting up to [`HOLD`]. Below it
/// the writer never waits for readers: a reader in the way only puts the cut off (at a million
/// charts, waiting there for readers was the 250 ms stall behind scans at 200/s); the issue's
/// bound on the log is 128 MB.
pub const HOLD_PAGES: i64 = 16_384;
/// How long the writer waits for readers on an old snapshot once the log is past
/// [`HOLD_PAGES`]: the log stops growing; a batch waits (and the next one grows).
pub const HOLD: Duration = Duration::from_millis(250);
/// How long the checkpoint thread's checkpoints wait for a lock.
pub const WAIT: Duration = Duration::from_millis(50);
/// How long the writer, below [`HOLD_PAGES`], tries again while the checkpoint thread's own
/// round holds the checkpoint lock; it never waits for readers there.
pub const WRITER_TRY: Duration = Duration::from_millis(5);
/// After a wait of [`HOLD`] that a reader outlived, the writer does not wait again for this
/// long (measured at a million charts: the background integrity check reads for minutes, and
/// every batch then waited 250 ms).
pub const HOLD_OFF: Duration = Duration::from_secs(30);
/// While the log is past [`HOLD_PAGES`], the next round comes this soon.
pub const SOON: Duration = Duration::from_millis(10);
/// The writer's usual busy timeout, restored after its truncating checkpoint.
const WRITER_BUSY: Duration = Duration::from_secs(5);

/// After a write failed for want of space, the writer cuts the log after every batch for this
/// long: the space an operator frees goes to the records, not to a log that grows again.
pub const TIGHT: Duration = Duration::from_secs(600);

/// Under Litestream: the writer is asked to cut the log past this many pages (64 MB), far past
/// Litestream's own checkpoint (1,000 pages by default), so only when Litestream is not doing it.
pub const LITESTREAM_TRUNCATE_PAGES: i64 = 16_384;

/// When the log is cut, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The writer is asked to truncate past this many pages ([`TRUNCATE_PAGES`]).
    pub truncate_pages: i64,
    /// Asked again every [`SOON`], waiting up to [`HOLD`], past this many ([`HOLD_PAGES`]).
    pub hold_pages: i64,
    /// The checkpoint thread truncates the log itself once it has copied it whole.
    pub truncate_when_copied: bool,
}

impl Limits {
    /// chartrack alone cuts its log.
    pub const OWN: Limits = Limits {
        truncate_pages: TRUNCATE_PAGES,
        hold_pages: HOLD_PAGES,
        truncate_when_copied: true,
    };
    /// Litestream cuts the log; chartrack only past [`LITESTREAM_TRUNCATE_PAGES`].
    pub const LITESTREAM: Limits = Limits {
        truncate_pages: LITESTREAM_TRUNCATE_PAGES,
        hold_pages: 2 * LITESTREAM_TRUNCATE_PAGES,
        truncate_when_copied: false,
    };
}

/// The checkpoint thread's request to the writer: truncate the log between two batches.
#[derive(Debug)]
pub struct Request {
    limits: Limits,
    asked: AtomicU8,
    /// Until when the log is cut after every batch (a disk was full).
    tight_until: Mutex<Option<std::time::Instant>>,
    /// The writer's truncating checkpoints failing in a row (told once).
    failing: Mutex<super::streak::Streak>,
    /// Until when the writer does not wait for readers again: a wait of [`HOLD`] outlived by a
    /// reader (a long read: the background integrity check, a backup) would otherwise stall
    /// every batch for as long as that reader reads.
    no_hold_until: Mutex<Option<std::time::Instant>>,
}

impl Default for Request {
    /// chartrack alone cuts its log ([`Limits::OWN`]).
    fn default() -> Request {
        Request::new(Limits::OWN)
    }
}

impl Request {
    pub fn new(limits: Limits) -> Request {
        Request {
            limits,
            asked: AtomicU8::new(0),
            tight_until: Mutex::new(None),
            failing: Mutex::default(),
            no_hold_until: Mutex::new(None),
        }
    }

    /// `hold`: the log is past [`HOLD_PAGES`]; wait for old readers up to [`HOLD`].
    fn ask(&self, hold: bool) {
        self.asked.store(if hold { 2 } else { 1 }, Ordering::SeqCst);
    }

    /// A disk was full just now (`Some(true)`), or: is the log still being kept tight?
    fn tight(&self, disk_full: bool) -> bool {
        let mut until = lock(&self.tight_until);
        let now = std::time::Instant::now();
        if disk_full {
            *until = Some(now + TIGHT);
        }
        match *until {
            Some(t) if now < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// Run by the writer outside any transaction, after answering a batch: if asked, or if the
    /// log file is past [`HOLD_PAGES`], copy what is left of the log and cut it, waiting at most
    /// [`WAIT`] for old readers ([`HOLD`] when the log is that long).
    ///
    /// `disk_full`: the batch failed for want of space. For [`TIGHT`] after that, the log is
    /// cut after every batch.
    pub fn serve(&self, conn: &Connection, disk_full: bool) {
        let tight = self.tight(disk_full);
        let asked = match self.asked.swap(0, Ordering::SeqCst) {
            0 if tight => 1,
            a => a,
        };
        // The writer looks at the log file itself too: it grows faster than the checkpoint
        // thread's rounds come when scans pour in.
        let long = wal_len(conn) >= self.limits.hold_pages as u64 * 4096;
        let holding_off = lock(&self.no_hold_until).is_some_and(|t| std::time::Instant::now() < t);
        let hold = long && !holding_off;
        let wait = match asked {
            _ if hold => HOLD,
            0 if !hold => return,
            _ => Duration::ZERO,
        };
        // A checkpoint running on the other thread makes this one give up at once (-1, -1):
        // try again for up to [`WRITER_TRY`], or the log grows while that one copies.
        let started = std::time::Instant::now();
        let retry = if long { WAIT } else { WRITER_TRY };
        let r = conn.busy_timeout(wait).and_then(|()| loop {
            match checkpoint(conn, "TRUNCATE") {
                Ok((1, -1, _)) if started.elapsed() < retry => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                r => break r,
            }
        });
        if let Err(e) = conn.busy_timeout(WRITER_BUSY) {
            tracing::warn!(error = %e, "the writer's busy timeout could not be restored");
        }
        match r {
            // Done, or a reader held on: asked again.
            Ok((busy_reader, log, _)) => {
                lock(&self.failing).succeeded();
                if hold && reader_outlived(busy_reader, log) {
                    *lock(&self.no_hold_until) = Some(std::time::Instant::now() + HOLD_OFF);
                }
            }
            Err(e) if busy(&e) => {
                if hold {
                    *lock(&self.no_hold_until) = Some(std::time::Instant::now() + HOLD_OFF);
                }
            }
            // A full disk is told by the writes that fail; not again here.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                tracing::debug!(error = %e, "truncating checkpoint failed: the disk is full")
            }
            Err(e) => match lock(&self.failing).failed(&e.to_string()) {
                Tell::Log => {
                    tracing::warn!(error = %e, "truncating checkpoint failed; will retry (repeats are not logged)")
                }
                Tell::Repeat => tracing::debug!(error = %e, "truncating checkpoint failed again"),
            },
        }
    }
}

/// What a truncating checkpoint's `(busy, log, copied)` says: a reader on an old snapshot
/// outlived the wait (the log's frames were counted), not the checkpoint thread's own round
/// holding the checkpoint lock (`log` is -1: nothing was tried). Only the first holds the
/// writer off waiting again: the second clears in a moment, and holding off for it let the
/// log grow unchecked for half a minute.
fn reader_outlived(busy: i64, log: i64) -> bool {
    busy != 0 && log != -1
}

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

/// The size of the connection's write-ahead log file (0 when there is none or it is unknown).
fn wal_len(conn: &Connection) -> u64 {
    conn.path()
        .filter(|p| !p.is_empty())
        .and_then(|p| std::fs::metadata(format!("{p}-wal")).ok())
        .map_or(0, |m| m.len())
}

/// One round: a passive checkpoint; then the log truncated here when it was copied whole, or
/// the writer asked to when it is long. Returns false when the next round should come
/// [`SOON`].
fn round(conn: &Connection, writer: &Request) -> rusqlite::Result<bool> {
    let limits = writer.limits;
    // Past the hold mark the writer copies and cuts the log itself, holding off new batches.
    // A passive copy of a log that long takes seconds, and while it runs it holds the
    // checkpoint lock: every try of the writer's meets it, gives up, and the log grows further
    // (measured at a million charts under 32 clients: 530 MB, the writer's cuts all refused).
    if wal_len(conn) >= limits.hold_pages as u64 * 4096 {
        writer.ask(true);
        return Ok(false);
    }
    let (log, copied) = match checkpoint(conn, "PASSIVE") {
        Ok((_, log, copied)) => (log, copied),
        Err(e) if busy(&e) => return Ok(true),
        Err(e) => return Err(e),
    };
    if limits.truncate_when_copied && log > 0 && copied == log {
        return match checkpoint(conn, "TRUNCATE") {
            Ok(_) => Ok(true),
            Err(e) if busy(&e) => Ok(true),
            Err(e) => Err(e),
        };
    }
    if log >= limits.truncate_pages {
        writer.ask(log >= limits.hold_pages);
    }
    Ok(log < limits.hold_pages)
}

/// The writer or a reader held on longer than it was waited for: not a failure, the next round
/// retries.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Checkpointer {
    pub fn start(conn: Connection, writer: Arc<Request>) -> std::io::Result<Checkpointer> {
        conn.busy_timeout(WAIT)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chartrack-checkpoint".into())
            .spawn(move || {
                let mut wait = INTERVAL;
                let mut failing = super::streak::Streak::default();
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                    wait = match round(&conn, &writer) {
                        Ok(calm) => {
                            if let Some((n, lasted)) = failing.succeeded() {
                                tracing::info!(failed = n, seconds = lasted.as_secs(), "checkpoints succeed again");
                            }
                            if calm {
                                INTERVAL
                            } else {
                                SOON
                            }
                        }
                        Err(e) => {
                            match failing.failed(&e.to_string()) {
                                Tell::Log => tracing::warn!(error = %e, "checkpoint failed; will retry (repeats are not logged)"),
                                Tell::Repeat => tracing::debug!(error = %e, "checkpoint failed again"),
                            }
                            INTERVAL
                        }
                    };
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
    use super::{Limits, Request, HOLD};
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

    /// Under Litestream the log is copied back but never cut here once copied (Litestream, which
    /// holds a reader on it, cuts it); alone, chartrack cuts it to nothing once it is copied.
    #[test]
    fn under_litestream_the_copied_log_is_left_for_litestream_to_cut() {
        for (replication, cut) in [
            (crate::config::Replication::None, true),
            (crate::config::Replication::Litestream, false),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("t.db");
            let options = Options {
                replication,
                ..Options::default()
            };
            let store = Store::open(&db, options).unwrap();
            let now = store.clock().now();
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
            let wal = || std::fs::metadata(dir.path().join("t.db-wal")).map_or(0, |m| m.len());
            // Copied back in both cases (the passive checkpoint runs every 100 ms).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while rows_in_main_file(&db) < 50 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{replication:?}: not copied"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // A few more rounds: cut to nothing, or left for Litestream.
            std::thread::sleep(std::time::Duration::from_millis(500));
            assert_eq!(wal() == 0, cut, "{replication:?}: log file {} bytes", wal());
            store.shutdown();
        }
    }

    #[test]
    fn only_a_reader_outliving_the_wait_holds_the_writer_off() {
        assert!(super::reader_outlived(1, 20_000));
        assert!(
            !super::reader_outlived(1, -1),
            "the checkpoint lock, held a moment"
        );
        assert!(!super::reader_outlived(0, 20_000));
    }

    /// Past the hold mark the writer waits for a reader on an old snapshot once; when the
    /// reader outlives the wait (a long read: the integrity check, a backup), it does not wait
    /// again for `HOLD_OFF`, so every batch is not held up for as long as that reader reads.
    #[test]
    fn after_a_wait_a_reader_outlived_the_writer_does_not_wait_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let writer = Connection::open(&db).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
                 CREATE TABLE t (body TEXT); INSERT INTO t VALUES ('before');",
            )
            .unwrap();
        let reader = Connection::open(&db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 1);
        for _ in 0..20 {
            writer
                .execute("INSERT INTO t VALUES (?1)", ["x".repeat(4000)])
                .unwrap();
        }
        let request = Request::new(Limits {
            truncate_pages: 1,
            hold_pages: 1,
            truncate_when_copied: true,
        });
        let timed = |request: &Request| {
            let t = std::time::Instant::now();
            request.serve(&writer, false);
            t.elapsed()
        };
        let first = timed(&request);
        assert!(
            first >= HOLD,
            "the first batch waited for the reader: {first:?}"
        );
        let second = timed(&request);
        assert!(
            second < HOLD / 5,
            "the next batch did not wait again: {second:?}"
        );
        // The reader gone, the log is cut at the next chance.
        reader.execute_batch("COMMIT").unwrap();
        request.ask(false);
        request.serve(&writer, false);
        let wal = std::fs::metadata(dir.path().join("t.db-wal")).map_or(0, |m| m.len());
        assert_eq!(wal, 0);
    }
}
