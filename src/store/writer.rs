//! The single writer: one thread owns the write connection. Jobs that arrive together are
//! committed together (group commit), each inside its own savepoint so one failure does not
//! undo the others, and each caller is answered only after the commit has succeeded.

use super::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 256;

pub(crate) trait Job: Send {
    /// Run inside the open transaction; false when the job failed (its savepoint is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
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
        let f = self.f.take().expect("a job runs once");
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
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
}

pub struct Writer {
    sender: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: std::sync::Arc<WriterStats>,
}

impl Writer {
    pub fn start(conn: Connection) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let stats = std::sync::Arc::new(WriterStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("chartrack-writer".into())
            .spawn(move || run(conn, rx, &s))
            .expect("spawn writer thread");
        Writer {
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stats,
        }
    }

    fn submit(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        let guard = self.sender.lock().expect("writer lock");
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
        self.sender.lock().expect("writer lock").take();
        if let Some(t) = self.thread.lock().expect("writer lock").take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let commit = commit_batch(&conn, &mut batch);
        if let Err(e) = &commit {
            stats.failed_commits.fetch_add(1, Relaxed);
            tracing::error!(error = %e, jobs = batch.len(), "write transaction failed; nothing in it was acknowledged");
        } else {
            stats.commits.fetch_add(1, Relaxed);
            stats.jobs.fetch_add(batch.len() as u64, Relaxed);
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)?;
    let result = (|| {
        for job in batch.iter_mut() {
            // Cached: parsing these three on every job cost about 5% of a scan.
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            if !job.run(conn) {
                conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            conn.prepare_cached("RELEASE job")?.execute([])?;
        }
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = result {
        // The transaction may already be gone (SQLite rolls back on some errors).
        let _ = conn.execute_batch("ROLLBACK");
        return Err(StoreError::from(e));
    }
    Ok(())
}
