//! Break-glass: in an emergency a user below supervisor opens a restricted chart (VIP,
//! behavioural health) with a typed reason. The opening is written with its own access-log entry
//! (action `break-glass`) in one transaction, lasts [`MINUTES`], covers that patient's volumes
//! for that user only, and is listed for the supervisors (`Report::BreakGlass`).

use super::audit::{self, Access};
use super::{Result, StoreError};
use crate::clock::stamp;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// How long an opening lasts.
pub const MINUTES: i64 = 30;

/// One opening, as its user is told.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: i64,
    pub expires_at: String,
}

/// Open `barcode`'s patient for `user_id` with `reason`; `access` is the access-log entry
/// (action `break-glass`) written with it.
pub fn open(
    c: &Connection,
    user_id: i64,
    barcode: &str,
    reason: &str,
    access: &Access,
    now: DateTime<Utc>,
) -> Result<Opened> {
    let reason = reason.trim();
    if reason.chars().count() < 10 || reason.chars().count() > 500 {
        return Err(StoreError::Invalid(
            "say why, in 10 to 500 characters: the reason is read by a supervisor".into(),
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "the reason must be plain text on one line".into(),
        ));
    }
    let found: Option<(i64, i64, bool)> = c
        .prepare_cached(
            "SELECT v.volume_id, v.patient_id, p.restricted FROM volume v
             JOIN patient p ON p.patient_id = v.patient_id WHERE v.barcode = ?1",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (volume_id, patient_id, restricted) = found
        .ok_or_else(|| StoreError::NotFound(format!("no volume has the barcode {barcode}")))?;
    if !restricted {
        return Err(StoreError::Invalid(
            "this chart is not restricted: open it as usual".into(),
        ));
    }
    let entry = audit::append(c, access, now)?;
    let expires = stamp(now + chrono::Duration::minutes(MINUTES));
    c.prepare_cached(
        "INSERT INTO break_glass (user_id, volume_id, patient_id, reason, opened_at, expires_at, access_entry_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![user_id, volume_id, patient_id, reason, stamp(now), expires, entry])?;
    Ok(Opened {
        id: c.last_insert_rowid(),
        expires_at: expires,
    })
}

/// Until when `user_id` may see `barcode`'s patient by break-glass, if an opening is in force.
pub fn in_force(
    c: &Connection,
    user_id: i64,
    barcode: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    Ok(c.prepare_cached(
        "SELECT max(b.expires_at) FROM break_glass b
             JOIN volume v ON v.patient_id = b.patient_id
             WHERE v.barcode = ?1 AND b.user_id = ?2 AND b.expires_at > ?3",
    )?
    .query_row(
        params![
            crate::domain::Barcode::canonical(barcode),
            user_id,
            stamp(now)
        ],
        |r| r.get(0),
    )?)
}

/// Every volume barcode `user_id` sees by break-glass now (the volumes of the patients opened and
/// not yet expired): a handful at most, read once for a page of search results or a location.
pub fn opened_barcodes(
    c: &Connection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>> {
    let mut st = c.prepare_cached(
        "SELECT DISTINCT v.barcode FROM break_glass b
             JOIN volume v ON v.patient_id = b.patient_id
             WHERE b.user_id = ?1 AND b.expires_at > ?2",
    )?;
    let rows = st.query_map(params![user_id, stamp(now)], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
