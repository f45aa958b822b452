//! `chartrack restore`: a restored copy of the database (a Litestream restore, a backup) checked
//! whole before it is served, and put in the configured database's place only if it passes.
//!
//! The copy is made first (SQLite's online backup API, never a file copy) beside the database
//! as `<database>.restoring`, migrated to this version's schema, and checked there:
//! `PRAGMA integrity_check`, `PRAGMA foreign_key_check`, the access log's chain under the key
//! file (which is not in any copy of the database: it comes from where it was kept apart), the
//! log held against the anchors, and every volume's state recomputed from its movements
//! (`check::volumes`). Any failure: the copy is removed, and the database in service is not
//! touched.
//!
//! A copy is older than the database it replaces, so the anchors may name entries it does not
//! have (those written after its last sync). It is held against the newest anchor it reaches;
//! the newer anchors are reported as lost entries, and recorded: the restore appends an anchor
//! for the restored head saying where it came from and how many anchored entries were lost
//! (`Anchor::restored`). From then on `audit verify` holds the log against that anchor.
//!
//! Only when nothing has the database open (no `chartrack serve`, no `litestream replicate`):
//! the one in service is moved aside (`<database>.before-restore-<time>`, with its log), never
//! deleted, and the checked copy renamed into its place.

use super::anchor::{self, Anchor, AuditKey, Restored};
use super::{audit, beside, check, schema};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// Where the access log's key and anchors are (the configured paths or beside the database).
#[derive(Debug, Clone)]
pub struct AuditPaths {
    pub key: PathBuf,
    pub anchors: PathBuf,
}

impl AuditPaths {
    pub fn new(db: &Path, key: Option<&Path>, anchors: Option<&Path>) -> AuditPaths {
        AuditPaths {
            key: key.map_or_else(|| beside(db, ".audit-key"), Path::to_owned),
            anchors: anchors.map_or_else(|| beside(db, ".anchors"), Path::to_owned),
        }
    }
}

/// What the checks found in a copy that passed them.
#[derive(Debug)]
pub struct Checked {
    /// The access log, verified (against `anchored`, when there is one).
    pub log: audit::Verified,
    /// The newest anchor the copy reaches, which it agrees with.
    pub anchored: Option<Anchor>,
    /// The newest anchor written, when the copy does not reach it.
    pub newer_anchor: Option<Anchor>,
    /// Anchored entries past the copy's head: lost with whatever the copy was made from.
    pub lost_entries: i64,
    pub volumes: check::Checked,
    /// Scans in the copy, and when the newest was received.
    pub scans: i64,
    pub newest_scan: Option<String>,
    /// The schema version the copy was made at (it has been migrated to this version's).
    pub schema_found: i64,
}

/// Check the database file `copy` (which may be migrated: pass a copy, not the original).
pub fn check_copy(copy: &Path, audit_paths: &AuditPaths) -> anyhow::Result<Checked> {
    let mut c = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    let problems: Vec<String> = c
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if problems != ["ok"] {
        anyhow::bail!(
            "it fails PRAGMA integrity_check: {}",
            problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let schema_found: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    schema::migrate(&mut c).map_err(|e| anyhow::anyhow!("{e}"))?;
    let orphans: Vec<(String, i64, String)> = c
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                r.get(2)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if let Some((table, row, parent)) = orphans.first() {
        anyhow::bail!(
            "it fails PRAGMA foreign_key_check: {} row(s) point at nothing (the first: {table} row {row}, into {parent})",
            orphans.len()
        );
    }
    if !audit_paths.key.exists() {
        anyhow::bail!(
            "the access log's key file {} is missing: copy it from where it was kept apart from the backups (it is in no copy of the database, and without it the restored log cannot be verified)",
            audit_paths.key.display()
        );
    }
    let key = AuditKey::load_or_create(&audit_paths.key, 1, true)?;
    let anchors = anchor::all(&audit_paths.anchors)?;
    let head = anchor::head(&c)?;
    let entries = head.as_ref().map_or(0, |(n, _)| *n);
    // The newest anchor the copy reaches; anchors are appended in order, but a restore
    // appends one lower than the ones before it, so: the last line not past the head.
    let anchored = anchors.iter().rev().find(|a| a.entries <= entries).cloned();
    let newer_anchor = anchors.last().filter(|a| a.entries > entries).cloned();
    let lost_entries = newer_anchor.as_ref().map_or(0, |a| a.entries - entries);
    // A copy that reaches none of the anchored history shares nothing checkable with this
    // database: another hospital's file, a new empty one, or one older than the first anchor.
    // Putting it in service would lose every anchored entry; an operator who means it moves
    // the anchors aside first.
    if let (None, Some(newest)) = (&anchored, &newer_anchor) {
        anyhow::bail!(
            "it reaches none of the anchored access log ({} entries in the copy; the first anchor is at entry {}, the newest at {}): it is not a copy of this database, or older than its first anchor. If you mean to put it in service all the same, move {} aside first",
            entries,
            anchors.first().map_or(newest.entries, |a| a.entries),
            newest.entries,
            audit_paths.anchors.display()
        );
    }
    let log = match audit::verify(&c, &key, anchored.as_ref())? {
        Ok(v) => v,
        Err(broken) => anyhow::bail!("its access log is not intact: {broken}"),
    };
    let volumes = check::volumes(&c)?;
    if volumes.differing > 0 {
        let first = volumes
            .differences
            .first()
            .map(|d| format!(" (the first: {d})"))
            .unwrap_or_default();
        anyhow::bail!(
            "{} of {} volume(s) differ from what their movements say{first}",
            volumes.differing,
            volumes.volumes
        );
    }
    let (scans, newest_scan): (i64, Option<String>) = c.query_row(
        "SELECT count(*), (SELECT received_at FROM scan ORDER BY scan_seq DESC LIMIT 1) FROM scan",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // Leave a single file: the copy's log copied in and gone.
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(Checked {
        log,
        anchored,
        newer_anchor,
        lost_entries,
        volumes,
        scans,
        newest_scan,
        schema_found,
    })
}

/// Is the database open elsewhere (a running server, Litestream)? `false` when there is none.
/// SQLite's own locks: an exclusive lock cannot be had while any other connection is open.
pub fn in_use(db: &Path) -> anyhow::Result<bool> {
    if !db.exists() {
        return Ok(false);
    }
    let c = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(std::time::Duration::ZERO)?;
    let probe = (|| -> rusqlite::Result<()> {
        c.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |_| Ok(()))?;
        c.execute_batch("BEGIN EXCLUSIVE")?;
        c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        c.execute_batch("COMMIT")
    })();
    match probe {
        Ok(()) => Ok(false),
        Err(e) => match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Ok(true)
            }
            // The locks were had, and then the file read as damaged: nothing else holds it, and
            // a damaged database is what a restore replaces.
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                Ok(false)
            }
            _ => Err(anyhow::anyhow!("cannot open {}: {e}", db.display())),
        },
    }
}

/// Copy `from` to `dest` through SQLite's online backup API (a consistent copy, its log
/// included), `from` opened read-only.
fn copy(from: &Path, dest: &Path) -> anyhow::Result<()> {
    let src = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", from.display()))?;
    let mut out = Connection::open(dest)?;
    let b = rusqlite::backup::Backup::new(&src, &mut out)?;
    b.run_to_completion(1024, std::time::Duration::ZERO, None)
        .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", from.display()))?;
    Ok(())
}

/// Remove a database file and its log and shared-memory files (best effort).
fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(beside(path, suffix));
    }
}

/// What a restore did.
#[derive(Debug)]
pub struct Restore {
    pub checked: Checked,
    /// Where the database it replaced was moved (`None`: there was none).
    pub aside: Option<PathBuf>,
}

/// Check `from` on a copy, and unless `check_only`, put the copy into service as `db`.
pub fn restore(
    from: &Path,
    db: &Path,
    audit_paths: &AuditPaths,
    now: chrono::DateTime<chrono::Utc>,
    check_only: bool,
) -> anyhow::Result<Restore> {
    if !from.is_file() {
        anyhow::bail!("{} does not exist or is not a file", from.display());
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(from, db) {
        anyhow::bail!(
            "{} is the configured database itself: give the restored file (for example `litestream restore -o restored.db ...`)",
            from.display()
        );
    }
    if !check_only && in_use(db)? {
        anyhow::bail!(
            "{} is open in another process (a running chartrack serve, or litestream replicate): stop it first; nothing was changed",
            db.display()
        );
    }
    let work = beside(db, ".restoring");
    remove_db(&work);
    let checked = copy(from, &work).and_then(|()| check_copy(&work, audit_paths));
    let checked = match checked {
        Ok(c) if !check_only => c,
        Ok(c) => {
            remove_db(&work);
            return Ok(Restore {
                checked: c,
                aside: None,
            });
        }
        Err(e) => {
            remove_db(&work);
            let kept = if db.exists() {
                format!("{} is untouched", db.display())
            } else {
                "nothing was put into service".into()
            };
            anyhow::bail!("{} cannot be served: {e:#}; {kept}", from.display());
        }
    };
    // Checked: the one in service moved aside with its log, never deleted.
    let aside = if db.exists() {
        let stamp = now.format("%Y%m%dT%H%M%SZ");
        let aside = beside(db, &format!(".before-restore-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let f = beside(db, suffix);
            if f.exists() {
                std::fs::rename(&f, beside(&aside, suffix))?;
            }
        }
        std::fs::rename(db, &aside)?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&work, db)?;
    remove_db(&work);
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    // The restored head anchored, saying so: `audit verify` holds the log against it from now.
    if checked.log.entries > 0 {
        anchor::append(
            &audit_paths.anchors,
            &Anchor {
                at: crate::clock::stamp(now),
                entries: checked.log.entries,
                head: checked.log.head.clone(),
                restored: Some(Restored {
                    from: from.display().to_string(),
                    lost_entries: checked.lost_entries,
                    anchored_before: checked
                        .newer_anchor
                        .as_ref()
                        .or(checked.anchored.as_ref())
                        .map(|a| a.entries),
                }),
            },
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the database was put into service, but the restore could not be recorded in the anchor file {}: {e}",
                audit_paths.anchors.display()
            )
        })?;
    }
    Ok(Restore { checked, aside })
}
