//! The access log: who looked at which patient data, when and from where. Entries are chained
//! (each row's SHA-256 covers the previous row's hash), so `verify` finds any entry that was
//! changed, removed, inserted or reordered.
//!
//! Patient data is read only through [`crate::store::Store::audited`]: the writer commits the
//! entry first, then the read runs. Functions that return patient data take an [`Audited`]
//! connection, which nothing outside `store` can make, so no page or handler can skip the log.

use super::Result;
use crate::clock::stamp;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One access to record.
#[derive(Debug, Clone)]
pub struct Access {
    /// The signed-in user, when a person (not a station) is reading.
    pub user_id: Option<i64>,
    /// The user's name or the station's id.
    pub actor: String,
    /// What was done: `view-volume`, `view-movements`, `search`, `view-location`, `sign-in`, ...
    pub action: &'static str,
    /// What it was done to: a barcode, the search text, a location code, a user name.
    pub subject: String,
    /// Where from: the client's address.
    pub remote: String,
}

/// A read-only connection whose reads have been written to the access log.
pub struct Audited<'c>(&'c Connection);

impl<'c> Audited<'c> {
    /// Only `Store::audited` makes one, after the entry is committed.
    pub(super) fn after_logging(c: &'c Connection) -> Self {
        Audited(c)
    }
}

impl std::ops::Deref for Audited<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0
    }
}

/// Length-prefixed fields in a fixed order, so two different rows never encode alike.
fn canonical(entry_id: i64, at: &str, user_id: Option<i64>, fields: [&str; 4]) -> Vec<u8> {
    let user = user_id.map(|u| u.to_string()).unwrap_or_default();
    let id = entry_id.to_string();
    let mut out = Vec::with_capacity(128);
    for f in [id.as_str(), at, user.as_str()].into_iter().chain(fields) {
        out.extend_from_slice(&(f.len() as u64).to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

fn chain(prev: &str, row: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(row);
    hex::encode(h.finalize())
}

/// Append one entry (inside the caller's transaction, on the writer).
pub fn append(c: &Connection, a: &Access, now: DateTime<Utc>) -> Result<i64> {
    let last: Option<(i64, String)> = c
        .prepare_cached("SELECT entry_id, row_hash FROM access_log ORDER BY entry_id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, prev) = match last {
        Some((id, h)) => (id + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    let at = stamp(now);
    let row = canonical(
        id,
        &at,
        a.user_id,
        [&a.actor, a.action, &a.subject, &a.remote],
    );
    let hash = chain(&prev, &row);
    c.prepare_cached(
        "INSERT INTO access_log (entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    )?
    .execute(params![id, at, a.user_id, a.actor, a.action, a.subject, a.remote, prev, hash])?;
    Ok(id)
}

/// The chain checked from the first entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    pub head: String,
}

/// The first entry that breaks the chain, and how.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("access log entry {entry_id} is not intact: {reason}")]
pub struct Broken {
    pub entry_id: i64,
    pub reason: String,
}

/// Walk the whole chain. `Err(Broken)` names the first entry that does not verify.
pub fn verify(c: &Connection) -> Result<std::result::Result<Verified, Broken>> {
    let mut st = c.prepare(
        "SELECT entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash
         FROM access_log ORDER BY entry_id",
    )?;
    let mut rows = st.query([])?;
    let mut prev = GENESIS.to_owned();
    let mut expected_id = 1;
    let mut count = 0;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let broken = |reason: String| {
            Ok(Err(Broken {
                entry_id: id,
                reason,
            }))
        };
        if id != expected_id {
            return broken(format!(
                "expected entry {expected_id} here: entries are missing"
            ));
        }
        let (at, user): (String, Option<i64>) = (r.get(1)?, r.get(2)?);
        let fields: [String; 4] = [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?];
        let (stored_prev, stored_hash): (String, String) = (r.get(7)?, r.get(8)?);
        if stored_prev != prev {
            return broken("it does not follow the entry before it".into());
        }
        let row = canonical(id, &at, user, fields.each_ref().map(String::as_str));
        if chain(&prev, &row) != stored_hash {
            return broken("its contents do not match its hash".into());
        }
        prev = stored_hash;
        expected_id += 1;
        count += 1;
    }
    Ok(Ok(Verified {
        entries: count,
        head: prev,
    }))
}

/// One row of the access log, for the supervisor's review.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessRow {
    pub entry_id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub remote: String,
}

/// Newest first; `subject` narrows to one barcode, location or search text.
pub fn recent(c: &Connection, subject: Option<&str>, limit: u32) -> Result<Vec<AccessRow>> {
    let mut st = c.prepare_cached(
        "SELECT entry_id, at, actor, action, subject, remote FROM access_log
         WHERE ?1 IS NULL OR subject = ?1 ORDER BY entry_id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![subject, limit], |r| {
        Ok(AccessRow {
            entry_id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            remote: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        c
    }

    fn entry(subject: &str) -> Access {
        Access {
            user_id: None,
            actor: "nurse.ames".into(),
            action: "view-volume",
            subject: subject.into(),
            remote: "10.0.0.7".into(),
        }
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_is_found() {
        let c = db();
        let now = chrono::Utc::now();
        for i in 0..5 {
            append(&c, &entry(&format!("CH{i}")), now).unwrap();
        }
        let ok = verify(&c).unwrap().unwrap();
        assert_eq!(ok.entries, 5);
        // The triggers refuse edits; someone with the file can drop them and edit anyway.
        c.execute_batch(
            "DROP TRIGGER access_log_append_only_update; DROP TRIGGER access_log_append_only_delete;",
        )
        .unwrap();
        c.execute("UPDATE access_log SET subject='CHX' WHERE entry_id=3", [])
            .unwrap();
        assert_eq!(verify(&c).unwrap().unwrap_err().entry_id, 3);
        c.execute("UPDATE access_log SET subject='CH2' WHERE entry_id=3", [])
            .unwrap();
        assert!(verify(&c).unwrap().is_ok());
        c.execute("DELETE FROM access_log WHERE entry_id=2", [])
            .unwrap();
        let broken = verify(&c).unwrap().unwrap_err();
        assert_eq!(broken.entry_id, 3);
        assert!(broken.reason.contains("missing"), "{broken}");
    }

    #[test]
    fn the_log_refuses_updates_and_deletes() {
        let c = db();
        append(&c, &entry("CH1"), chrono::Utc::now()).unwrap();
        let e = c
            .execute("UPDATE access_log SET actor='x'", [])
            .unwrap_err();
        assert!(e.to_string().contains("append-only"));
        let e = c.execute("DELETE FROM access_log", []).unwrap_err();
        assert!(e.to_string().contains("append-only"));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = canonical(1, "t", None, ["ab", "c", "", ""]);
        let b = canonical(1, "t", None, ["a", "bc", "", ""]);
        assert_ne!(a, b);
    }
}
