//! Feed messages not applied (AE, AR), for the supervisors' exceptions page: listed until a
//! resend is applied or a supervisor dismisses them; their raw text is patient data.

use super::super::audit::Audited;
use super::super::{Result, StoreError};
use crate::clock::stamp;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

/// A message not applied, for the exceptions page.
#[derive(Debug, Clone)]
pub struct Unapplied {
    pub id: i64,
    pub received_at: String,
    pub sender: String,
    pub control_id: String,
    pub kind: String,
    pub ack_code: String,
    pub reason: String,
    pub raw: String,
}

/// A message not applied, not dismissed, whose control id was not applied since (a resend after
/// the cause was fixed takes it off the list) and that is the newest try of that control id.
const OUTSTANDING: &str = "m.ack_code <> 'AA' AND m.dismissed_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM hl7_message a WHERE a.sender = m.sender AND a.control_id = m.control_id
                    AND (a.ack_code = 'AA' OR a.message_id > m.message_id) AND m.control_id <> '')";

/// How many messages are outstanding, not applied (no patient data).
pub fn count_unapplied(c: &Connection) -> Result<i64> {
    Ok(c.prepare_cached(&format!(
        "SELECT count(*) FROM hl7_message m WHERE {OUTSTANDING}"
    ))?
    .query_row([], |r| r.get(0))?)
}

/// The newest outstanding messages not applied (their raw text is patient data: read after the
/// access-log entry).
pub fn unapplied(c: &Audited, limit: u32) -> Result<Vec<Unapplied>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT received_at, sender, control_id, kind, ack_code, coalesce(reason, ''), coalesce(raw, ''), message_id
         FROM hl7_message m WHERE {OUTSTANDING} ORDER BY message_id DESC LIMIT ?"
    ))?;
    let rows = st.query_map([limit], |r| {
        Ok(Unapplied {
            id: r.get(7)?,
            received_at: r.get(0)?,
            sender: r.get(1)?,
            control_id: r.get(2)?,
            kind: r.get(3)?,
            ack_code: r.get(4)?,
            reason: r.get(5)?,
            raw: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A supervisor takes a message not applied off the exceptions page (the row is kept).
pub fn dismiss(c: &Connection, id: i64, user_id: i64, now: DateTime<Utc>) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE hl7_message SET dismissed_at = ?2, dismissed_by = ?3
             WHERE message_id = ?1 AND ack_code <> 'AA' AND dismissed_at IS NULL",
        )?
        .execute(params![id, stamp(now), user_id])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "no feed message {id} waiting on the exceptions page"
        )));
    }
    Ok(())
}
