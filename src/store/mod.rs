//! Storage: the only module that touches rusqlite. It opens and checks the database, runs the
//! migrations, owns the single writer (see [`writer`]) and a pool of read-only connections.
//! Scans enter through [`Store::scan`], which runs the whole scan path inside the writer.

pub mod admin;
pub mod anchor;
mod answers;
pub mod audit;
mod audit_watch;
mod background;
pub mod break_glass;
pub mod bulk;
pub mod check;
mod checkpoint;
pub mod demo;
pub mod displays;
pub mod history;
pub mod hl7;
pub mod integrity;
pub mod labels;
pub mod loose;
pub mod missing;
pub mod outbox;
pub mod plans;
pub mod query;
pub mod reports;
pub mod requests;
pub mod restore;
pub mod scan;
pub mod schema;
pub mod sessions;
pub mod stocktake;
mod streak;
pub mod users;
pub mod writer;

use crate::clock::Clock;
use crate::engine;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub use audit_watch::Checked;
pub use scan::{ScanAnswer, ScanInput};

/// What went wrong, split by whose fault it is: the caller's (`Invalid`, `NotFound`,
/// `Conflict`), the storage's state (`Unavailable`: disk full, I/O error, shutting down), or a
/// bug (`Internal`). Clone so one failed commit can answer every caller in its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this here (a station that names who may use it).
    #[error("{0}")]
    Forbidden(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal storage error: {0}")]
    Internal(String),
}

/// What a write refused for want of space says (the writer recognises it: see `checkpoint`).
pub(crate) const DISK_FULL: &str = "the disk is full";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(DiskFull) => StoreError::Unavailable(DISK_FULL.into()),
            Some(SystemIoFailure) | Some(CannotOpen) | Some(ReadOnly) => {
                // The extended code tells an operator which operation failed (778: a write,
                // 1034: an fsync, ...); the message alone says only "disk I/O error".
                let code = match &e {
                    rusqlite::Error::SqliteFailure(f, _) => {
                        format!("; SQLite code {}", f.extended_code)
                    }
                    _ => String::new(),
                };
                StoreError::Unavailable(format!("the database cannot be written ({e}{code})"))
            }
            Some(DatabaseBusy) | Some(DatabaseLocked) => {
                StoreError::Unavailable("the database is busy".into())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Options for opening a store.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub clock: Clock,
    pub engine: engine::Settings,
    pub audit: AuditFiles,
    /// Whether Litestream cuts the write-ahead log (`replication`).
    pub replication: crate::config::Replication,
    /// Log every statement the writer and the readers run (tests and the scale benchmark
    /// check their plans); `None` in service.
    pub statements: Option<plans::StatementLog>,
}

/// Where the access log's key and anchors are kept, outside the database, and how often an
/// anchor is written. A path left out is beside the database: `<database>.audit-key`,
/// `<database>.anchors`.
#[derive(Clone, Debug)]
pub struct AuditFiles {
    pub key: Option<PathBuf>,
    pub anchors: Option<PathBuf>,
    pub every: std::time::Duration,
}

impl Default for AuditFiles {
    fn default() -> Self {
        AuditFiles {
            key: None,
            anchors: None,
            every: std::time::Duration::from_secs(60),
        }
    }
}

/// `<database><suffix>`: a file beside the database.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Options {
    /// The system clock and the station memory and duplicate window from the configuration.
    pub fn from_config(config: &crate::config::Config) -> Options {
        Options {
            engine: engine::Settings {
                memory: chrono::Duration::seconds(config.station_memory_seconds.into()),
                duplicate_window: chrono::Duration::seconds(config.duplicate_seconds.into()),
            },
            audit: AuditFiles {
                key: config.audit_key.clone(),
                anchors: config.audit_anchor.clone(),
                every: std::time::Duration::from_secs(config.anchor_seconds.max(1).into()),
            },
            replication: config.replication,
            ..Default::default()
        }
    }
}

struct Inner {
    path: PathBuf,
    writer: writer::Writer,
    checkpointer: checkpoint::Checkpointer,
    anchorer: anchor::Anchorer,
    audit_key: Arc<anchor::AuditKey>,
    anchors: PathBuf,
    readers: Mutex<Vec<Connection>>,
    events: broadcast::Sender<ScanAnswer>,
    /// Requests whose state changed (by a scan or a page), for the floor pages.
    requests: broadcast::Sender<scan::RequestNote>,
    options: Options,
    /// The access log's chain as last checked in the background: 0 not yet, 1 intact, 2 broken.
    audit_state: std::sync::atomic::AtomicU8,
    /// The background check's last finding, and when it was made (the access-log page shows
    /// it rather than walking a million entries per view).
    audit_checked: Mutex<Option<audit_watch::Checked>>,
    /// SQLite's quick check of the whole file, run in the background: 0 not yet, 1 ok, 2 damaged.
    integrity_state: std::sync::atomic::AtomicU8,
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn pragma_text(conn: &Connection, name: &str) -> rusqlite::Result<String> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| {
        r.get::<_, rusqlite::types::Value>(0)
    })
    .map(|v| match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    })
}

/// Open a connection with the pragmas chartrack needs and check that they took.
fn open_conn(path: &Path, read_only: bool) -> anyhow::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    if read_only {
        // Readers can never write around the writer: SQLite itself refuses.
        conn.pragma_update(None, "query_only", true)?;
        return Ok(conn);
    }
    // The writer runs the same statements all day: plans that do not depend on bound values
    // (query planner stability guarantee) mean no statement is re-prepared on every scan.
    // Without it SQLite re-prepared the volume joins twice per scan: half the writer's time.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let checks = [
        ("journal_mode", mode.to_lowercase(), "wal"),
        ("synchronous", pragma_text(&conn, "synchronous")?, "2"),
        ("foreign_keys", pragma_text(&conn, "foreign_keys")?, "1"),
    ];
    for (name, got, want) in checks {
        if got != want {
            anyhow::bail!(
                "refusing to start: PRAGMA {name} is {got}, chartrack needs {want} ({})",
                path.display()
            );
        }
    }
    Ok(conn)
}

/// The write connection's own settings. Checkpoints run on their own thread (see
/// `checkpoint`), never inside a commit; when the writer starts the log over itself (every
/// page copied, no reader on it), the file is cut back to 4 MB.
fn writer_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)
}

/// Whether the store's threads are running (`GET /healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// The single writer thread runs and has a usable connection.
    pub writer: bool,
    /// The WAL checkpoint thread runs.
    pub checkpoint: bool,
    /// The last write transaction committed (false while a full or failing disk refuses them).
    pub writes: bool,
}

impl Health {
    /// The names of what is not running, in a fixed order; empty when all is well.
    pub fn down(&self) -> Vec<&'static str> {
        [
            ("writer", self.writer),
            ("checkpoint", self.checkpoint),
            ("writes", self.writes),
        ]
        .into_iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name)
        .collect()
    }
}

/// A database file others could read (made before this version, or copied in) is made readable
/// by chartrack's user only, with its log files; said once.
fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in [
        path.to_path_buf(),
        beside(path, "-wal"),
        beside(path, "-shm"),
    ] {
        if let Ok(m) = std::fs::metadata(&p) {
            if m.permissions().mode() & 0o077 != 0 {
                match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => {
                        tracing::info!(path = %p.display(), "made readable by chartrack's user only (it holds patient data)")
                    }
                    Err(e) => {
                        tracing::warn!(path = %p.display(), error = %e, "others can read this file of patient data, and it could not be changed")
                    }
                }
            }
        }
    }
}

impl Store {
    /// Open (creating and migrating if needed) the database at `path` and start its writer.
    /// Refuses, with a message saying why, a database that fails its checks.
    pub fn open(path: &Path, options: Options) -> anyhow::Result<Store> {
        let mut conn = open_conn(path, false)?;
        private(path);
        if let Some(log) = &options.statements {
            log.attach(&mut conn)?;
        }
        // No whole-file check here: at a million charts `quick_check` reads gigabytes (9 s
        // before serving). It runs in the background instead, table by table (`watch_audit`,
        // `integrity`: /healthz `integrity`), and whole in `chartrack check`.
        schema::migrate(&mut conn).map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
        writer_pragmas(&conn)?;
        let next_entry = anchor::head(&conn)?.map_or(1, |(n, _)| n + 1);
        let key_path = (options.audit.key.clone()).unwrap_or_else(|| beside(path, ".audit-key"));
        let keyed_log = audit::newest_is_keyed(&conn)? == Some(true);
        let audit_key = Arc::new(anchor::AuditKey::load_or_create(
            &key_path, next_entry, keyed_log,
        )?);
        let anchors = (options.audit.anchors.clone()).unwrap_or_else(|| beside(path, ".anchors"));
        audit_key.register(&conn)?;
        anchor::notice_lost_anchors(&conn, &anchors, options.clock.now())?;
        let truncate = Arc::new(checkpoint::Request::new(match options.replication {
            crate::config::Replication::None => checkpoint::Limits::OWN,
            crate::config::Replication::Litestream => checkpoint::Limits::LITESTREAM,
        }));
        let checkpointer =
            checkpoint::Checkpointer::start(open_conn(path, false)?, Arc::clone(&truncate))?;
        let anchorer = anchor::Anchorer::start(
            open_conn(path, true)?,
            anchors.clone(),
            options.audit.every,
            options.clock.clone(),
        )?;
        let again = path.to_owned();
        let key = Arc::clone(&audit_key);
        let log = options.statements.clone();
        let writer = writer::Writer::start(
            conn,
            Box::new(move || {
                let mut c = open_conn(&again, false)?;
                if let Some(log) = &log {
                    log.attach(&mut c)?;
                }
                writer_pragmas(&c)?;
                key.register(&c)?;
                Ok(c)
            }),
            truncate,
        )?;
        let (events, _) = broadcast::channel(1024);
        let (requests, _) = broadcast::channel(256);
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                checkpointer,
                anchorer,
                audit_key,
                anchors,
                readers: Mutex::new(Vec::new()),
                events,
                requests,
                options,
                audit_state: std::sync::atomic::AtomicU8::new(0),
                audit_checked: Mutex::new(None),
                integrity_state: std::sync::atomic::AtomicU8::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    pub fn clock(&self) -> &Clock {
        &self.inner.options.clock
    }
    pub fn writer_stats(&self) -> &writer::WriterStats {
        &self.inner.writer.stats
    }
    /// Are the writer and checkpoint threads alive? (After [`Store::shutdown`] neither is.)
    pub fn health(&self) -> Health {
        Health {
            writer: self.inner.writer.alive(),
            checkpoint: self.inner.checkpointer.alive(),
            writes: !self
                .inner
                .writer
                .stats
                .failing
                .load(std::sync::atomic::Ordering::SeqCst),
        }
    }
    /// Answers of committed scans, in commit order, for the live feed.
    pub fn subscribe(&self) -> broadcast::Receiver<ScanAnswer> {
        self.inner.events.subscribe()
    }

    /// Record one scan through the whole scan path; answers after the commit.
    pub async fn scan(&self, input: ScanInput) -> Result<ScanAnswer> {
        let now = self.clock().now();
        let settings = self.inner.options.engine;
        let answer = self
            .inner
            .writer
            .exec(move |c| scan::apply(c, &input, now, &settings))
            .await?;
        let _ = self.inner.events.send(answer.clone());
        for r in &answer.requests {
            let _ = self.inner.requests.send(r.clone());
        }
        Ok(answer)
    }

    /// Requests whose state changed, after their commit.
    pub fn subscribe_requests(&self) -> broadcast::Receiver<scan::RequestNote> {
        self.inner.requests.subscribe()
    }

    /// Tell the floor pages that a request changed outside a scan (created or cancelled).
    pub fn request_changed(&self, note: scan::RequestNote) {
        let _ = self.inner.requests.send(note);
    }

    /// Read patient data: the access entry is committed by the writer first (fail closed: no
    /// entry, no data), then `f` runs on a read-only connection marked as audited.
    pub async fn audited<T, F>(&self, access: audit::Access, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&audit::Audited) -> Result<T> + Send + 'static,
    {
        let now = self.clock().now();
        self.write(move |c| audit::append(c, &access, now)).await?;
        self.read(move |c| f(&audit::Audited::after_logging(c)))
            .await
    }

    /// Run a write through the single writer.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.exec(f).await
    }

    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.exec_blocking(f)
    }

    fn take_reader(&self) -> Result<Connection> {
        if let Some(c) = self.inner.readers.lock().expect("reader pool").pop() {
            return Ok(c);
        }
        let mut c = open_conn(&self.inner.path, true)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if let Some(log) = &self.inner.options.statements {
            log.attach(&mut c)?;
        }
        Ok(c)
    }

    fn put_reader(&self, c: Connection) {
        let mut pool = self.inner.readers.lock().expect("reader pool");
        if pool.len() < 8 {
            pool.push(c);
        }
    }

    /// Run a read on a pooled read-only connection, on the blocking thread pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        let conn = self.take_reader()?;
        let r = f(&conn);
        self.put_reader(conn);
        r
    }

    /// A consistent copy of the live database through SQLite's online backup API.
    pub fn backup_to(&self, dest: &Path) -> anyhow::Result<()> {
        if dest.exists() {
            anyhow::bail!("{} already exists; choose a new file name", dest.display());
        }
        let src = open_conn(&self.inner.path, true)?;
        let mut out = Connection::open(dest)?;
        {
            let b = rusqlite::backup::Backup::new(&src, &mut out)?;
            b.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
        }
        let check: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            anyhow::bail!("the backup copy failed its integrity check: {check}");
        }
        Ok(())
    }

    /// Finish queued writes and stop the writer; the access log's head is anchored last.
    /// Later writes are refused as unavailable.
    pub fn shutdown(&self) {
        self.inner.writer.shutdown();
        self.inner.checkpointer.shutdown();
        self.inner.anchorer.shutdown();
    }

    /// The access log checked whole: its chain (plain, then keyed) and the newest anchor.
    pub fn verify_audit_blocking(
        &self,
    ) -> anyhow::Result<std::result::Result<audit::Verified, audit::Broken>> {
        let anchor = anchor::newest(&self.inner.anchors)?;
        let key = Arc::clone(&self.inner.audit_key);
        let path = self.inner.anchors.clone();
        Ok(self.read_blocking(move |c| {
            // A lost anchor file not yet accepted fails the log whatever the chain says: the
            // tail before the loss cannot be checked for a cut.
            if let Some(broken) = anchor::lost(c, &path)? {
                return Ok(Err(broken));
            }
            audit::verify(c, &key, anchor.as_ref())
        })?)
    }

    /// Accept a lost anchor file (`chartrack audit reanchor`): recorded in the access log with
    /// the operator's reason; anchors go on in a new file. Returns the entry written.
    pub fn reanchor_blocking(&self, reason: &str, actor: &str) -> Result<i64> {
        let (reason, actor) = (reason.trim().to_owned(), actor.to_owned());
        let path = self.inner.anchors.clone();
        let now = self.clock().now();
        self.write_blocking(move |c| anchor::reanchor(c, &path, &reason, &actor, now))
    }

    /// [`Store::verify_audit_blocking`] on the blocking thread pool.
    pub async fn verify_audit(
        &self,
    ) -> anyhow::Result<std::result::Result<audit::Verified, audit::Broken>> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.verify_audit_blocking()).await?
    }

    /// Every volume's stored state compared with the one its movements give (`chartrack check`),
    /// in one read transaction.
    pub fn check_volumes_blocking(&self) -> Result<check::Checked> {
        self.read_blocking(check::volumes)
    }

    /// The newest anchor written (`/metrics`, the access-log page).
    pub fn newest_anchor(&self) -> anyhow::Result<Option<anchor::Anchor>> {
        anchor::newest(&self.inner.anchors)
    }

    /// The access log's key file.
    pub fn audit_key_path(&self) -> &Path {
        &self.inner.audit_key.path
    }

    /// Where the anchors are written.
    pub fn anchor_path(&self) -> &Path {
        &self.inner.anchors
    }
}
