//! The single writer: one thread owns the write connection. Jobs that arrive together are
//! committed together (group commit), each inside its own savepoint so one failure does not
//! undo the others, and each caller is answered only after the commit has succeeded.
//!
//! A job that panics (a bug) is contained: its savepoint is rolled back, its caller gets an
//! internal error, and the writer goes on with the other jobs. After a failed batch the
//! connection must be back outside any transaction; if a `ROLLBACK` cannot get it there, the
//! connection is closed and opened again (see [`settle`]).

use super::StoreError;
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// How the writer opens its connection again when the one it has is unusable.
pub type Reopen = Box<dyn FnMut() -> anyhow::Result<Connection> + Send>;

pub(crate) trait Job: Send {
    /// Run inside the open transaction; false when the job failed (its savepoint is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// The job could not run to its end (it panicked): its caller is answered with `error`.
    fn fail(&mut self, error: StoreError);
    /// The error the job ended with, if it failed.
    fn failure(&self) -> Option<StoreError>;
    /// Called after the commit (or its failure): answer the caller.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct ExecJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for ExecJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            self.result = Some(Err(StoreError::Internal("a write was run twice".into())));
            return false;
        };
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }
    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }
    fn failure(&self) -> Option<StoreError> {
        match &self.result {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let out = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Unavailable("the write was not run".into())),
        };
        let _ = self.reply.send(out);
    }
}

/// Statistics of the writer, read by `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: std::sync::atomic::AtomicU64,
    pub jobs: std::sync::atomic::AtomicU64,
    pub failed_commits: std::sync::atomic::AtomicU64,
    /// Jobs that panicked (each one rolled back and answered with an internal error).
    pub panicked_jobs: std::sync::atomic::AtomicU64,
    /// The last write transaction failed (a full or failing disk): true until one commits.
    pub failing: AtomicBool,
    /// Transactions over [`SLOW`] from their first statement to the end of their commit.
    pub slow_commits: std::sync::atomic::AtomicU64,
    /// Cuts of the log between two batches over [`SLOW`] (the next batch waited that long).
    pub slow_log_cuts: std::sync::atomic::AtomicU64,
}

/// What counts as a stall: a batch or a cut of the log that held the writer longer (issue 18:
/// no scan over 100 ms at 200 scans/s). Each is counted in /metrics and logged at debug level
/// (`CHARTRACK_LOG=chartrack=debug`): an import or `generate` is one long transaction by design.
pub const SLOW: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Writer {
    sender: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// False while the writer has no usable connection (one stuck in a transaction that could
    /// not be reopened).
    usable: Arc<AtomicBool>,
    pub stats: Arc<WriterStats>,
}

/// A lock whose data stays valid even if a holder panicked (an `Option` taken or read).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Writer {
    /// `checkpoint`: the checkpoint thread's requests to truncate the log, served between batches.
    pub fn start(
        conn: Connection,
        reopen: Reopen,
        checkpoint: Arc<super::checkpoint::Request>,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let stats = Arc::new(WriterStats::default());
        let usable = Arc::new(AtomicBool::new(true));
        let (s, u) = (stats.clone(), usable.clone());
        let thread = std::thread::Builder::new()
            .name("chartrack-writer".into())
            .spawn(move || run(conn, reopen, rx, &s, &u, &checkpoint))?;
        Ok(Writer {
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            usable,
            stats,
        })
    }

    /// The thread is running and has a connection it can write with.
    pub fn alive(&self) -> bool {
        let running = lock(&self.thread)
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        running && self.usable.load(Ordering::SeqCst)
    }

    fn submit(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        let guard = lock(&self.sender);
        let sender = guard
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("chartrack is shutting down".into()))?;
        sender
            .send(job)
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }

    fn job<T, F>(f: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>)
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        (
            Box::new(ExecJob {
                f: Some(f),
                result: None,
                reply,
            }),
            rx,
        )
    }

    /// Run `f` in the writer's transaction; resolves after the commit.
    pub async fn exec<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, rx) = Self::job(f);
        self.submit(job)?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// The same, for callers outside the async runtime (command line, writer-side tools).
    pub fn exec_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, rx) = Self::job(f);
        self.submit(job)?;
        rx.blocking_recv()
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// Stop taking jobs, finish the queued ones, and wait for the thread.
    pub fn shutdown(&self) {
        lock(&self.sender).take();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

fn run(
    conn: Connection,
    mut reopen: Reopen,
    rx: mpsc::Receiver<Box<dyn Job>>,
    stats: &WriterStats,
    usable: &AtomicBool,
    checkpoint: &super::checkpoint::Request,
) {
    use super::streak::{Streak, Tell};
    use std::sync::atomic::Ordering::Relaxed;
    let mut conn = Some(conn);
    let mut streak = Streak::default();
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            conn = reopen_logged(&mut reopen);
        }
        let started = std::time::Instant::now();
        let commit = match &conn {
            Some(c) => commit_batch(c, &mut batch, stats),
            None => Err(StoreError::Unavailable(
                "the database connection could not be opened".into(),
            )),
        };
        if let Err(e) = &commit {
            stats.failed_commits.fetch_add(1, Relaxed);
            stats.failing.store(true, Ordering::SeqCst);
            // Told once a run (a failing disk must not fill the log it is also writing to);
            // every failure is counted in chartrack_writer_failed_commits_total.
            match streak.failed(&e.to_string()) {
                Tell::Log => {
                    tracing::error!(error = %e, jobs = batch.len(), "write transaction failed; nothing in it was acknowledged; writes are refused until this clears (repeats are counted, not logged)")
                }
                Tell::Repeat => {
                    tracing::debug!(error = %e, jobs = batch.len(), "write transaction failed again")
                }
            }
        } else {
            let took = started.elapsed();
            if took > SLOW {
                stats.slow_commits.fetch_add(1, Relaxed);
                tracing::debug!(
                    ms = took.as_millis() as u64,
                    jobs = batch.len(),
                    "a write transaction took over 100 ms (statements and commit)"
                );
            }
            stats.commits.fetch_add(1, Relaxed);
            stats.jobs.fetch_add(batch.len() as u64, Relaxed);
            stats.failing.store(false, Ordering::SeqCst);
            if let Some((failed, lasted)) = streak.succeeded() {
                tracing::warn!(
                    failed_transactions = failed,
                    seconds = lasted.as_secs(),
                    "writes succeed again"
                );
            }
        }
        // Before anyone is answered: the next write must find the connection outside any
        // transaction.
        if let Some(c) = conn.take() {
            conn = settle(c, |c| c.execute_batch("ROLLBACK"), &mut reopen);
        }
        usable.store(conn.is_some(), Ordering::SeqCst);
        for job in batch {
            job.finish(commit.clone());
        }
        // Between two batches, with everyone answered: the log cut if the checkpoint thread
        // asked (it cannot take the write lock from a busy writer itself).
        let disk_full = matches!(&commit, Err(StoreError::Unavailable(m)) if m == super::DISK_FULL);
        if let Some(c) = &conn {
            let started = std::time::Instant::now();
            checkpoint.serve(c, disk_full);
            let took = started.elapsed();
            if took > SLOW {
                stats.slow_log_cuts.fetch_add(1, Relaxed);
                tracing::debug!(
                    ms = took.as_millis() as u64,
                    "cutting the write-ahead log held the writer over 100 ms"
                );
            }
        }
    }
}

fn reopen_logged(reopen: &mut Reopen) -> Option<Connection> {
    match reopen() {
        Ok(c) => {
            tracing::warn!("the write connection was opened again");
            Some(c)
        }
        Err(e) => {
            tracing::error!(error = %e, "the write connection cannot be opened; writes are refused until it can");
            None
        }
    }
}

/// Make sure the connection is outside any transaction: roll back (a few tries) and, if it is
/// still inside one, close it (closing rolls back) and open a new one. None when that fails.
fn settle(
    conn: Connection,
    rollback: impl Fn(&Connection) -> rusqlite::Result<()>,
    reopen: &mut Reopen,
) -> Option<Connection> {
    for _ in 0..3 {
        if conn.is_autocommit() {
            return Some(conn);
        }
        if let Err(e) = rollback(&conn) {
            tracing::error!(error = %e, "ROLLBACK failed");
        }
    }
    if conn.is_autocommit() {
        return Some(conn);
    }
    tracing::error!("the write connection is stuck inside a transaction; closing and reopening it");
    drop(conn);
    reopen_logged(reopen)
}

fn commit_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    stats: &WriterStats,
) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)?;
    let result = (|| -> rusqlite::Result<Result<(), StoreError>> {
        for job in batch.iter_mut() {
            // Cached: parsing these three on every job cost about 5% of a scan.
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            let ok = match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
                Ok(ok) => ok,
                Err(_) => {
                    // The panic message went to standard error through the panic hook; it is
                    // not repeated here (it may quote the data the job was given).
                    stats
                        .panicked_jobs
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(
                        "a write panicked (a bug); its changes are rolled back, the writer goes on"
                    );
                    job.fail(StoreError::Internal(
                        "the write failed unexpectedly; nothing of it was recorded".into(),
                    ));
                    false
                }
            };
            if !ok {
                if conn.is_autocommit() {
                    // SQLite rolled back the whole transaction (an I/O error in a statement):
                    // the batch is lost, and the job's error says why.
                    return Ok(Err(job.failure().unwrap_or_else(|| {
                        StoreError::Unavailable("the write transaction was rolled back".into())
                    })));
                }
                conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            conn.prepare_cached("RELEASE job")?.execute([])?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(Ok(()))
    })();
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(lost)) => Err(lost),
        Err(e) => {
            // The transaction may already be gone (SQLite rolls back on some errors); `settle`
            // checks that it is.
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::from(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_conn(path: &std::path::Path) -> Connection {
        Connection::open(path).unwrap()
    }

    #[test]
    fn a_connection_left_inside_a_transaction_by_a_failed_rollback_is_reopened() {
        // Arrange: a connection inside a transaction, and a ROLLBACK that fails (as on an I/O
        // error) without ending it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = file_conn(&path);
        conn.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let reopened = Arc::new(AtomicBool::new(false));
        let (r, p) = (reopened.clone(), path.clone());
        let mut reopen: Reopen = Box::new(move || {
            r.store(true, Ordering::SeqCst);
            Ok(file_conn(&p))
        });
        let failing = |_: &Connection| Err(rusqlite::Error::InvalidQuery);

        // Act
        let conn = settle(conn, failing, &mut reopen).expect("a connection");

        // Assert: a fresh connection outside any transaction; the open transaction's write is
        // gone; writes work again.
        assert!(reopened.load(Ordering::SeqCst));
        assert!(conn.is_autocommit());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT;")
            .unwrap();
    }

    #[test]
    fn a_rollback_that_works_keeps_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let conn = file_conn(&dir.path().join("w.db"));
        conn.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let mut reopen: Reopen = Box::new(|| anyhow::bail!("must not reopen"));
        let conn = settle(conn, |c| c.execute_batch("ROLLBACK"), &mut reopen).unwrap();
        assert!(conn.is_autocommit());
    }

    #[test]
    fn a_panicking_job_is_answered_with_an_internal_error_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = file_conn(&path);
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let p = path.clone();
        let w = Writer::start(
            conn,
            Box::new(move || Ok(file_conn(&p))),
            Default::default(),
        )
        .unwrap();
        let r: Result<(), StoreError> = w.exec_blocking(|c| {
            c.execute("INSERT INTO t VALUES (1)", [])?;
            panic!("synthetic");
        });
        assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
        let n: i64 = w
            .exec_blocking(|c| {
                c.execute("INSERT INTO t VALUES (2)", [])?;
                Ok(c.query_row("SELECT sum(x) FROM t", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(n, 2, "the panicked job's row was rolled back");
        assert!(w.alive());
        assert_eq!(w.stats.panicked_jobs.load(Ordering::Relaxed), 1);
        w.shutdown();
        assert!(!w.alive());
    }
}
