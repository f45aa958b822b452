//! The access log: who looked at which patient data, when and from where. Entries are chained
//! (each row's hash covers the previous row's hash), so `verify` finds any entry that was
//! changed, removed, inserted or reordered. The hash is keyed (HMAC-SHA-256 under the key in
//! `store::anchor`, computed on the writer's connection by the SQL function
//! `chartrack_audit_mac`), so it cannot be recomputed without the key; entries written before
//! the key existed keep their plain SHA-256 chain. `verify` also compares the chain with the
//! newest anchor, so a tail cut off is found too.
//!
//! Patient data is read only through [`crate::store::Store::audited`]: the writer commits the
//! entry first, then the read runs. Functions that return patient data take an [`Audited`]
//! connection, which nothing outside `store` can make, so no page or handler can skip the log.

use super::anchor::{Anchor, AuditKey};
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

/// Whether the newest entry was written with a key: its hash is not the plain SHA-256 chain
/// (`None` for an empty log). A log written by a keyed chartrack cannot take a new key.
pub fn newest_is_keyed(c: &Connection) -> Result<Option<bool>> {
    let row = c
        .query_row(
            "SELECT entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash
             FROM access_log ORDER BY entry_id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    [
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ],
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(id, at, user, fields, prev, hash)| {
        let row = canonical(id, &at, user, fields.each_ref().map(String::as_str));
        chain(&prev, &row) != hash
    }))
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
    // The writer's connection carries the key (`AuditKey::register`); without it, no entry.
    let hash: String = c
        .prepare_cached("SELECT chartrack_audit_mac(?1, ?2)")?
        .query_row(params![prev, row], |r| r.get(0))?;
    c.prepare_cached(
        "INSERT INTO access_log (entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    )?
    .execute(params![id, at, a.user_id, a.actor, a.action, a.subject, a.remote, prev, hash])?;
    Ok(id)
}

/// The chain checked from the first entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    pub head: String,
    /// The first entry with a keyed hash.
    pub keyed_from: i64,
    /// The newest anchor, which the chain agrees with (`None`: none written yet).
    pub anchor: Option<Anchor>,
    /// Losses of the anchor file accepted (`audit reanchor`): entry, when, the reason given.
    pub reanchored: Vec<(i64, String, String)>,
}

/// The first entry that breaks the chain, and how.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("access log entry {entry_id} is not intact: {reason}")]
pub struct Broken {
    pub entry_id: i64,
    pub reason: String,
}

/// Walk the whole chain (plain hashes before the key's first entry, keyed from it on), then
/// hold it against the newest anchor. `Err(Broken)` names the first entry that does not verify.
pub fn verify(
    c: &Connection,
    key: &AuditKey,
    anchor: Option<&Anchor>,
) -> Result<std::result::Result<Verified, Broken>> {
    let mut st = c.prepare(
        "SELECT entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash
         FROM access_log ORDER BY entry_id",
    )?;
    let mut rows = st.query([])?;
    let mut prev = GENESIS.to_owned();
    let mut expected_id = 1;
    let mut count = 0;
    let mut at_anchor = None;
    let mut reanchored = Vec::new();
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
        if id < key.keyed_from {
            if chain(&prev, &row) != stored_hash {
                return broken("its contents do not match its hash".into());
            }
        } else if key.mac(&prev, &row) != stored_hash {
            return broken(
                "its contents do not match its keyed hash: it was changed or forged (or the audit key file is not the one it was written with)".into(),
            );
        }
        if fields[1] == "anchors-restarted" {
            reanchored.push((id, at.clone(), fields[2].clone()));
        }
        if anchor.is_some_and(|a| a.entries == id) {
            at_anchor = Some(stored_hash.clone());
        }
        prev = stored_hash;
        expected_id += 1;
        count += 1;
    }
    if let Some(a) = anchor {
        if count < a.entries {
            return Ok(Err(Broken {
                entry_id: count + 1,
                reason: format!(
                    "missing: the log ends at entry {count}, but the anchor written at {} says it had reached entry {}; the newest entries were cut off",
                    a.at, a.entries
                ),
            }));
        }
        if at_anchor.as_deref() != Some(a.head.as_str()) {
            return Ok(Err(Broken {
                entry_id: a.entries,
                reason: format!(
                    "it differs from the anchor written at {}: the log was rewritten up to here",
                    a.at
                ),
            }));
        }
    }
    Ok(Ok(Verified {
        entries: count,
        head: prev,
        keyed_from: key.keyed_from,
        anchor: anchor.cloned(),
        reanchored,
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
/// The newest entries (of one subject, when given) numbered below `before`, newest first: a
/// subject's from its index, never a walk of the whole log for a rare one.
pub fn recent(
    c: &Connection,
    subject: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AccessRow>> {
    let before = before.unwrap_or(i64::MAX);
    let mut st = match subject {
        Some(_) => c.prepare_cached(
            "SELECT entry_id, at, actor, action, subject, remote FROM access_log
             WHERE subject = ?1 AND entry_id < ?2 ORDER BY subject DESC, entry_id DESC LIMIT ?3",
        )?,
        None => c.prepare_cached(
            "SELECT entry_id, at, actor, action, subject, remote FROM access_log
             WHERE ?1 IS NULL AND entry_id < ?2 ORDER BY entry_id DESC LIMIT ?3",
        )?,
    };
    let rows = st.query_map(params![subject, before, limit], |r| {
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
    use std::sync::Arc;

    fn key() -> Arc<AuditKey> {
        Arc::new(AuditKey::new([7; 32], 1))
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        key().register(&c).unwrap();
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

    /// A log of `n` entries whose triggers are gone (someone with the file can drop them).
    fn log(n: i64) -> Connection {
        let c = db();
        let now = chrono::Utc::now();
        for i in 1..=n {
            append(&c, &entry(&format!("CH{i}")), now).unwrap();
        }
        c.execute_batch(
            "DROP TRIGGER access_log_append_only_update; DROP TRIGGER access_log_append_only_delete;",
        )
        .unwrap();
        c
    }

    fn anchor_of(c: &Connection) -> Anchor {
        let (entries, head) = super::super::anchor::head(c).unwrap().unwrap();
        Anchor {
            at: "2026-12-01T00:00:00.000Z".into(),
            entries,
            head,
            restored: None,
        }
    }

    /// The first entry `verify` names, and why.
    fn first_bad(c: &Connection, anchor: Option<&Anchor>) -> (i64, String) {
        let b = verify(c, &key(), anchor).unwrap().unwrap_err();
        (b.entry_id, b.reason)
    }

    /// Overwrite a row's hash with the plain (unkeyed) chain from `from` on, as someone without
    /// the key would after changing it.
    fn rehash_plain(c: &Connection, from: i64) {
        let mut prev: String = if from == 1 {
            GENESIS.into()
        } else {
            c.query_row(
                "SELECT row_hash FROM access_log WHERE entry_id = ?1",
                [from - 1],
                |r| r.get(0),
            )
            .unwrap()
        };
        let rows: Vec<(i64, String, Option<i64>, [String; 4])> = c
            .prepare("SELECT entry_id, at, user_id, actor, action, subject, remote FROM access_log WHERE entry_id >= ?1 ORDER BY entry_id")
            .unwrap()
            .query_map([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?])))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, at, user, f) in rows {
            let h = chain(
                &prev,
                &canonical(id, &at, user, f.each_ref().map(String::as_str)),
            );
            c.execute(
                "UPDATE access_log SET prev_hash = ?1, row_hash = ?2 WHERE entry_id = ?3",
                params![prev, h, id],
            )
            .unwrap();
            prev = h;
        }
    }

    #[test]
    fn an_intact_chain_verifies_against_its_anchor() {
        let c = log(5);
        let a = anchor_of(&c);
        let ok = verify(&c, &key(), Some(&a)).unwrap().unwrap();
        assert_eq!((ok.entries, ok.keyed_from), (5, 1));
        assert_eq!(ok.anchor, Some(a));
        // A log that grew after its anchor still agrees with it.
        let a3 = Anchor {
            entries: 3,
            head: c
                .query_row(
                    "SELECT row_hash FROM access_log WHERE entry_id=3",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
            ..anchor_of(&c)
        };
        assert!(verify(&c, &key(), Some(&a3)).unwrap().is_ok());
    }

    #[test]
    fn an_edited_byte_is_found() {
        let c = log(5);
        c.execute(
            "UPDATE access_log SET subject = 'CH4X' WHERE entry_id = 3",
            [],
        )
        .unwrap();
        assert_eq!(first_bad(&c, None).0, 3);
    }

    #[test]
    fn a_deleted_middle_row_is_found() {
        let c = log(5);
        c.execute("DELETE FROM access_log WHERE entry_id = 2", [])
            .unwrap();
        let (id, why) = first_bad(&c, None);
        assert_eq!(id, 3);
        assert!(why.contains("missing"), "{why}");
    }

    #[test]
    fn two_swapped_rows_are_found() {
        let c = log(5);
        c.execute_batch(
            "UPDATE access_log SET entry_id = -1 WHERE entry_id = 2;
             UPDATE access_log SET entry_id = 2 WHERE entry_id = 4;
             UPDATE access_log SET entry_id = 4 WHERE entry_id = -1;",
        )
        .unwrap();
        assert_eq!(first_bad(&c, None).0, 2);
    }

    #[test]
    fn a_forged_row_with_a_recomputed_plain_hash_is_found() {
        let c = log(5);
        let (prev, at): (String, String) = c
            .query_row(
                "SELECT row_hash, at FROM access_log WHERE entry_id = 5",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let fields = ["intruder", "view-volume", "CH9", "10.0.0.9"];
        let h = chain(&prev, &canonical(6, &at, None, fields));
        c.execute(
            "INSERT INTO access_log (entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash) VALUES (6, ?1, NULL, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![at, fields[0], fields[1], fields[2], fields[3], prev, h],
        )
        .unwrap();
        let (id, why) = first_bad(&c, None);
        assert_eq!(id, 6);
        assert!(why.contains("keyed hash"), "{why}");
    }

    #[test]
    fn a_rewritten_row_with_the_rest_rehashed_is_found() {
        let c = log(6);
        c.execute(
            "UPDATE access_log SET actor = 'someone.else' WHERE entry_id = 3",
            [],
        )
        .unwrap();
        rehash_plain(&c, 3);
        assert_eq!(first_bad(&c, None).0, 3);
    }

    #[test]
    fn a_rewrite_by_someone_with_the_key_is_found_by_the_anchor() {
        let c = log(6);
        let a = anchor_of(&c);
        // With the key, the chain can be recomputed: only the anchor tells.
        c.execute("DELETE FROM access_log WHERE entry_id >= 3", [])
            .unwrap();
        for i in 3..=6 {
            append(&c, &entry(&format!("OTHER{i}")), chrono::Utc::now()).unwrap();
        }
        assert!(verify(&c, &key(), None).unwrap().is_ok());
        let (id, why) = first_bad(&c, Some(&a));
        assert_eq!(id, 6);
        assert!(why.contains("differs from the anchor"), "{why}");
    }

    #[test]
    fn a_tail_cut_by_one_or_by_many_is_found_by_the_anchor() {
        for cut in [1, 4] {
            let c = log(6);
            let a = anchor_of(&c);
            c.execute("DELETE FROM access_log WHERE entry_id > ?1", [6 - cut])
                .unwrap();
            // The chain that is left is whole: without the anchor the cut is invisible.
            assert!(verify(&c, &key(), None).unwrap().is_ok());
            let (id, why) = first_bad(&c, Some(&a));
            assert_eq!(id, 6 - cut + 1);
            assert!(why.contains("cut off") && why.contains("entry 6"), "{why}");
        }
    }

    #[test]
    fn entries_from_before_the_key_keep_their_plain_chain() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        // An older chartrack wrote two entries without a key (a plain SHA-256 chain).
        let mut prev = GENESIS.to_owned();
        for id in 1..=2 {
            let f = ["nurse.ames", "view-volume", "CH1", "10.0.0.7"];
            let h = chain(&prev, &canonical(id, "t", None, f));
            c.execute(
                "INSERT INTO access_log (entry_id, at, user_id, actor, action, subject, remote, prev_hash, row_hash) VALUES (?1, 't', NULL, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, f[0], f[1], f[2], f[3], prev, h],
            )
            .unwrap();
            prev = h;
        }
        let k = Arc::new(AuditKey::new([7; 32], 3));
        k.register(&c).unwrap();
        append(&c, &entry("CH2"), chrono::Utc::now()).unwrap();
        let ok = verify(&c, &k, None).unwrap().unwrap();
        assert_eq!((ok.entries, ok.keyed_from), (3, 3));
        // The same log read with another key: its keyed entry does not verify.
        let other = AuditKey::new([8; 32], 3);
        assert_eq!(verify(&c, &other, None).unwrap().unwrap_err().entry_id, 3);
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
    fn without_the_key_no_entry_is_written() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        assert!(append(&c, &entry("CH1"), chrono::Utc::now()).is_err());
        let n: i64 = c
            .query_row("SELECT count(*) FROM access_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = canonical(1, "t", None, ["ab", "c", "", ""]);
        let b = canonical(1, "t", None, ["a", "bc", "", ""]);
        assert_ne!(a, b);
    }
}
