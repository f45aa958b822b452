//! What keeps the access log honest beyond the database file. The chain is keyed: each entry's
//! hash is an HMAC-SHA-256 under a key kept in a file outside the database (created at first
//! start, readable only by chartrack's user), so someone who can write the database but not read
//! the key cannot forge an entry or re-hash a rewritten tail. The chain is anchored: its head
//! (how many entries, the newest hash) is appended to a file outside the database every minute
//! and at shutdown, so `audit verify` notices a tail cut off or a chain rewritten by someone who
//! has the key but not the anchor file.

use hmac::{KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const KEY_HEADER: &str = "chartrack audit key v1";

/// The chain's key, and the first entry written with it (entries before it were written by a
/// chartrack that had no key, and are checked by their plain SHA-256 chain).
pub struct AuditKey {
    /// HMAC-SHA-256 keyed and ready; cloned for each entry.
    mac: HmacSha256,
    pub keyed_from: i64,
    pub path: PathBuf,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("keyed_from", &self.keyed_from)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from its bytes (tests; files go through [`AuditKey::load_or_create`]).
    pub fn new(key: [u8; 32], keyed_from: i64) -> AuditKey {
        AuditKey {
            mac: keyed(&key),
            keyed_from,
            path: PathBuf::new(),
        }
    }

    /// The keyed hash of one entry: HMAC-SHA-256 over the previous hash and the entry's
    /// canonical bytes, in hex.
    pub fn mac(&self, prev: &str, row: &[u8]) -> String {
        let mut m = self.mac.clone();
        m.update(prev.as_bytes());
        m.update(row);
        hex::encode(m.finalize().into_bytes())
    }

    /// Read the key file, or create it (32 random bytes, mode 0600) when there is none; a new
    /// key starts at the entry after the newest one already written (`next_entry`).
    ///
    /// `keyed_log`: the log's newest entry was written with a key. Then a missing key file is an
    /// error, never replaced: a new key would make every keyed entry look forged, and whoever
    /// removed the file would be rewarded with a fresh start.
    pub fn load_or_create(
        path: &Path,
        next_entry: i64,
        keyed_log: bool,
    ) -> anyhow::Result<AuditKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && keyed_log => anyhow::bail!(
                "refusing to start: the audit key file {} is missing, but the access log's entries (up to {}) were written with a key: restore the key file from the copy kept apart from the backups (chartrack does not make a new key over a keyed log)",
                path.display(),
                next_entry - 1
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path, next_entry),
            Err(e) => anyhow::bail!(
                "refusing to start: cannot read the audit key file {}: {e}",
                path.display()
            ),
        }
    }

    fn parse(path: &Path, text: &str) -> anyhow::Result<AuditKey> {
        let damaged = |what: &str| {
            anyhow::anyhow!(
                "refusing to start: the audit key file {} is damaged ({what}); restore it from the copy kept with the backups",
                path.display()
            )
        };
        let mut lines = text.lines();
        if lines.next() != Some(KEY_HEADER) {
            return Err(damaged("its first line is not the key file's header"));
        }
        let (mut key, mut from) = (None, None);
        for line in lines {
            match line.split_once(' ') {
                Some(("key", v)) => key = Some(v.trim().to_owned()),
                Some(("keyed_from", v)) => from = v.trim().parse::<i64>().ok(),
                _ => {}
            }
        }
        let key = key
            .filter(|k| k.len() == 64)
            .and_then(|k| hex::decode(k).ok())
            .ok_or_else(|| damaged("no 64-digit hex key"))?;
        let keyed_from = from
            .filter(|n| *n >= 1)
            .ok_or_else(|| damaged("no keyed_from line"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        "the audit key file can be read by other users; chmod 600 it"
                    );
                }
            }
        }
        Ok(AuditKey {
            mac: keyed(&key),
            keyed_from,
            path: path.to_owned(),
        })
    }

    fn create(path: &Path, next_entry: i64) -> anyhow::Result<AuditKey> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let key = hex::encode(bytes);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path).map_err(|e| {
            anyhow::anyhow!(
                "refusing to start: cannot create the audit key file {}: {e}",
                path.display()
            )
        })?;
        write!(f, "{KEY_HEADER}\nkey {key}\nkeyed_from {next_entry}\n")?;
        f.sync_all()?;
        sync_dir(path);
        if next_entry > 1 {
            tracing::warn!(
                path = %path.display(),
                keyed_from = next_entry,
                "created a new audit key; the access log entries before this one were written without a key"
            );
        } else {
            tracing::info!(path = %path.display(), "created the audit key");
        }
        Ok(AuditKey {
            mac: keyed(&bytes),
            keyed_from: next_entry,
            path: path.to_owned(),
        })
    }

    /// Give `conn` the SQL function `chartrack_audit_mac(prev, row)` that `audit::append`
    /// computes each entry's hash with.
    pub fn register(self: &Arc<Self>, conn: &Connection) -> rusqlite::Result<()> {
        let key = Arc::clone(self);
        conn.create_scalar_function(
            "chartrack_audit_mac",
            2,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8
                | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let prev: String = ctx.get(0)?;
                let row: Vec<u8> = ctx.get(1)?;
                Ok(key.mac(&prev, &row))
            },
        )
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Make a new file's directory entry durable (best effort).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// The chain's head at one moment: how many entries it had and the newest hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// When it was written (UTC stamp).
    pub at: String,
    pub entries: i64,
    pub head: String,
    /// Written by `chartrack restore`: the log was put back to this head from a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<Restored>,
}

/// What `chartrack restore` records in the anchor it writes for the restored log's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// The file the database was restored from.
    pub from: String,
    /// Anchored entries past the restored head: written before the copy was lost, not in it.
    pub lost_entries: i64,
    /// The newest anchor before the restore (entries), when there was one.
    pub anchored_before: Option<i64>,
}

/// The head of the chain as the database has it now: (entries, newest hash).
pub fn head(c: &Connection) -> rusqlite::Result<Option<(i64, String)>> {
    c.prepare_cached("SELECT entry_id, row_hash FROM access_log ORDER BY entry_id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Whether the log as the database has it now extends the newest anchor.
enum Extends {
    /// It grew from the anchor's head: anchor (entries, head).
    Yes(i64, String),
    Unchanged,
    /// It is shorter, or its entry at the anchor is not the anchored one: never anchored over.
    Disagrees(&'static str),
}

fn extends(c: &Connection, last: Option<&Anchor>) -> rusqlite::Result<Extends> {
    let Some((entries, newest)) = head(c)? else {
        return Ok(match last {
            Some(_) => Extends::Disagrees("the log is empty but was anchored"),
            None => Extends::Unchanged,
        });
    };
    let Some(a) = last else {
        return Ok(Extends::Yes(entries, newest));
    };
    let at_anchor: Option<String> = c
        .prepare_cached("SELECT row_hash FROM access_log WHERE entry_id = ?1")?
        .query_row([a.entries], |r| r.get(0))
        .optional()?;
    Ok(match at_anchor {
        None => Extends::Disagrees("the log is shorter than the anchor"),
        Some(h) if h != a.head => Extends::Disagrees("the anchored entry was rewritten"),
        Some(_) if entries == a.entries => Extends::Unchanged,
        Some(_) => Extends::Yes(entries, newest),
    })
}

/// Append an anchor line (JSON) to the file and flush it to disk.
pub fn append(path: &Path, anchor: &Anchor) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = serde_json::to_string(anchor).map_err(std::io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    if new {
        sync_dir(path);
    }
    Ok(())
}

/// Every anchor in the file, oldest first (none when there is no file).
pub fn all(path: &Path) -> anyhow::Result<Vec<Anchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read the anchor file {}: {e}", path.display()),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                anyhow::anyhow!(
                    "the anchor file {} line {} cannot be read ({e}); it was cut or edited",
                    path.display(),
                    n + 1
                )
            })
        })
        .collect()
}

/// The newest anchor in the file (its last line); `None` when there is no file or no line yet.
pub fn newest(path: &Path) -> anyhow::Result<Option<Anchor>> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read the anchor file {}: {e}", path.display()),
    };
    // Only the tail: the file grows by a line a minute for years.
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(8192)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    serde_json::from_str(last).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "the anchor file {}'s last line cannot be read ({e}); it was cut or edited",
            path.display()
        )
    })
}

/// At start: an anchor file seen for the first time is remembered in the database; one that was
/// there before and is gone now is a loss: written to the access log (`anchors-lost`, in the
/// keyed chain) and kept in `audit_state` until accepted (`chartrack audit reanchor`), so
/// `audit verify` fails and says why instead of starting a new file in silence.
pub fn notice_lost_anchors(
    c: &Connection,
    path: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let (since, lost): (Option<String>, Option<i64>) = c.query_row(
        "SELECT anchored_since, lost_entry FROM audit_state WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match (path.exists(), since, lost) {
        (true, None, _) => {
            c.execute(
                "UPDATE audit_state SET anchored_since = ?1 WHERE id = 1",
                [crate::clock::stamp(now)],
            )?;
        }
        (false, Some(since), None) => {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let r = (|| -> anyhow::Result<i64> {
                let entry = super::audit::append(
                    c,
                    &super::audit::Access {
                        user_id: None,
                        actor: "chartrack".into(),
                        action: "anchors-lost",
                        subject: path.display().to_string(),
                        remote: "local".into(),
                    },
                    now,
                )?;
                c.execute(
                    "UPDATE audit_state SET lost_entry = ?1, lost_at = ?2, anchored_since = NULL WHERE id = 1",
                    rusqlite::params![entry, crate::clock::stamp(now)],
                )?;
                Ok(entry)
            })();
            match r {
                Ok(entry) => {
                    c.execute_batch("COMMIT")?;
                    tracing::error!(
                        path = %path.display(),
                        anchored_since = %since,
                        entry,
                        "the access log's anchor file is missing: a cut tail before this cannot be detected; restore the file, or accept the loss with `chartrack audit reanchor --reason`; `audit verify` fails until then"
                    );
                }
                Err(e) => {
                    let _ = c.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A noticed, unaccepted loss of the anchor file, as `audit verify` reports it.
pub fn lost(c: &Connection, path: &Path) -> rusqlite::Result<Option<super::audit::Broken>> {
    let lost: Option<(i64, String)> = c
        .query_row(
            "SELECT lost_entry, lost_at FROM audit_state WHERE id = 1 AND lost_entry IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(lost.map(|(entry, at)| super::audit::Broken {
        entry_id: entry,
        reason: format!(
            "the anchor file {} was missing when chartrack started at {at}: entries before this one cannot be checked for a cut tail. Restore the file from its copy, or accept the loss with `chartrack audit reanchor --reason \"...\"` (recorded in the access log)",
            path.display()
        ),
    }))
}

/// Accept a lost anchor file: an `anchors-restarted` entry with the reason, the loss cleared.
pub fn reanchor(
    c: &Connection,
    path: &Path,
    reason: &str,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> super::Result<i64> {
    let n = reason.chars().count();
    if !(10..=300).contains(&n) || reason.chars().any(char::is_control) {
        return Err(super::StoreError::Invalid(
            "say why the anchor file's loss is accepted, in 10 to 300 characters on one line"
                .into(),
        ));
    }
    let lost: Option<i64> =
        c.query_row("SELECT lost_entry FROM audit_state WHERE id = 1", [], |r| {
            r.get(0)
        })?;
    if lost.is_none() {
        return Err(super::StoreError::Invalid(format!(
            "no loss of the anchor file {} is waiting to be accepted",
            path.display()
        )));
    }
    let entry = super::audit::append(
        c,
        &super::audit::Access {
            user_id: None,
            actor: actor.to_owned(),
            action: "anchors-restarted",
            subject: reason.to_owned(),
            remote: "local".into(),
        },
        now,
    )?;
    c.execute(
        "UPDATE audit_state SET lost_entry = NULL, lost_at = NULL WHERE id = 1",
        [],
    )?;
    Ok(entry)
}

/// Writes an anchor every `every` when the head has moved, and a last one when stopped.
pub struct Anchorer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Anchorer {
    pub fn start(
        conn: Connection,
        path: PathBuf,
        every: Duration,
        clock: crate::clock::Clock,
    ) -> std::io::Result<Anchorer> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chartrack-anchor".into())
            .spawn(move || {
                let mut last = newest(&path).ok().flatten();
                let mut complained = false;
                let mut failing = super::streak::Streak::default();
                let mut once = || match extends(&conn, last.as_ref()) {
                    Ok(Extends::Yes(entries, head)) => {
                        let at = crate::clock::stamp(clock.now());
                        let anchor = Anchor {
                            at,
                            entries,
                            head,
                            restored: None,
                        };
                        match append(&path, &anchor) {
                            Ok(()) => {
                                last = Some(anchor);
                                if let Some((n, _)) = failing.succeeded() {
                                    tracing::info!(failed = n, path = %path.display(), "the access log anchor is written again");
                                }
                            }
                            Err(e) => match failing.failed(&e.to_string()) {
                                super::streak::Tell::Log => tracing::warn!(error = %e, path = %path.display(), "could not write the access log anchor; will retry (repeats are not logged)"),
                                super::streak::Tell::Repeat => tracing::debug!(error = %e, "could not write the access log anchor again"),
                            },
                        }
                    }
                    Ok(Extends::Unchanged) => {}
                    Ok(Extends::Disagrees(why)) => {
                        if !complained {
                            complained = true;
                            tracing::error!(reason = why, "the access log disagrees with its newest anchor; no anchor is written until it is resolved: run `chartrack audit verify`");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the access log head; will retry"),
                };
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    once();
                }
                once();
            })?;
        Ok(Anchorer {
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Write a last anchor and stop.
    pub fn shutdown(&self) {
        drop(
            self.stop
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let k = AuditKey::load_or_create(&p, 7, false).unwrap();
        assert_eq!(k.keyed_from, 7);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = AuditKey::load_or_create(&p, 99, false).unwrap();
        assert_eq!(again.keyed_from, 7);
        assert_eq!(k.mac("p", b"row"), again.mac("p", b"row"));
        std::fs::write(&p, "chartrack audit key v1\nkey 12\nkeyed_from 1\n").unwrap();
        let e = AuditKey::load_or_create(&p, 1, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
    }

    #[test]
    fn the_newest_anchor_is_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("anchors");
        assert_eq!(newest(&p).unwrap(), None);
        for n in 1..=3 {
            let a = Anchor {
                at: format!("t{n}"),
                entries: n,
                head: "h".into(),
                restored: None,
            };
            append(&p, &a).unwrap();
        }
        assert_eq!(newest(&p).unwrap().unwrap().entries, 3);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"at\":")
            .unwrap();
        assert!(newest(&p)
            .unwrap_err()
            .to_string()
            .contains("cut or edited"));
    }
}
