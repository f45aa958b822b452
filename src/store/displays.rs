//! Wall displays: a screen on a wall that shows one location's display page. An admin creates
//! one for a location; its secret (shown once, as a link) is the screen's only credential and
//! only its SHA-256 is stored. A display is revoked, never deleted, so the list says who made
//! and who ended it. Writes run inside the writer's transaction (call through `Store::write`).

use super::users::{random_secret, token_digest};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{LocationCode, Secret};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// The longest label, in characters.
pub const LABEL_MAX: usize = 60;

/// A display as the gate sees it: which one, its label, the location it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayRef {
    pub id: i64,
    pub label: String,
    pub location: String,
    pub last_seen_at: Option<String>,
}

/// A display as the admin page lists it.
#[derive(Debug, Clone)]
pub struct DisplayView {
    pub id: i64,
    pub label: String,
    pub location_code: String,
    pub location_name: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub last_seen_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A label people can read on the admin page and in the access log: 1 to 60 characters, no
/// control characters, no leading or trailing space.
pub fn check_label(label: &str) -> Result<()> {
    let n = label.chars().count();
    if n == 0 || n > LABEL_MAX || label.trim() != label || label.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "a display's label is 1 to {LABEL_MAX} characters, such as \"Ward 4 corridor\""
        )));
    }
    Ok(())
}

/// Create a display for a location; returns its id and its secret (in clear, the only time).
pub fn create(
    c: &Connection,
    location: &LocationCode,
    label: &str,
    created_by: i64,
    now: DateTime<Utc>,
) -> Result<(i64, Secret)> {
    check_label(label)?;
    let location_id: i64 = c
        .prepare_cached("SELECT location_id FROM location WHERE code = ?")?
        .query_row([location.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no location has the code {location}")))?;
    let secret = random_secret(24);
    c.prepare_cached(
        "INSERT INTO display (location_id, label, digest, created_at, created_by) VALUES (?1,?2,?3,?4,?5)",
    )?
    .execute(params![location_id, label, token_digest(&secret), stamp(now), created_by])
    .map_err(|e| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            StoreError::Conflict(format!(
                "a display labelled \"{label}\" already exists; choose another label"
            ))
        } else {
            e.into()
        }
    })?;
    Ok((c.last_insert_rowid(), Secret::new(secret)))
}

/// Revoke a display: its screen is signed out at its next request (and its live stream ends).
/// Returns its label.
pub fn revoke(c: &Connection, id: i64, by: i64, now: DateTime<Utc>) -> Result<String> {
    let row: Option<(String, Option<String>)> = c
        .prepare_cached("SELECT label, revoked_at FROM display WHERE display_id = ?")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Err(StoreError::NotFound(format!("there is no display {id}"))),
        Some((label, Some(_))) => Err(StoreError::Conflict(format!(
            "the display \"{label}\" was already revoked"
        ))),
        Some((label, None)) => {
            c.prepare_cached(
                "UPDATE display SET revoked_at = ?2, revoked_by = ?3 WHERE display_id = ?1",
            )?
            .execute(params![id, stamp(now), by])?;
            Ok(label)
        }
    }
}

/// The display a secret opens, if it is not revoked.
pub fn by_secret(c: &Connection, secret: &str) -> Result<Option<DisplayRef>> {
    Ok(c.prepare_cached(
        "SELECT d.display_id, d.label, l.code, d.last_seen_at FROM display d
             JOIN location l ON l.location_id = d.location_id
             WHERE d.digest = ? AND d.revoked_at IS NULL",
    )?
    .query_row([token_digest(secret)], |r| {
        Ok(DisplayRef {
            id: r.get(0)?,
            label: r.get(1)?,
            location: r.get(2)?,
            last_seen_at: r.get(3)?,
        })
    })
    .optional()?)
}

/// Is this display still open (not revoked)?
pub fn is_live(c: &Connection, id: i64) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM display WHERE display_id = ? AND revoked_at IS NULL")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

/// The display was used now (written at most every minute, by the gate).
pub fn touch(c: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    c.prepare_cached("UPDATE display SET last_seen_at = ?2 WHERE display_id = ?1")?
        .execute(params![id, stamp(now)])?;
    Ok(())
}

/// Every display, those in use first, then the revoked (newest first).
pub fn list(c: &Connection) -> Result<Vec<DisplayView>> {
    let mut st = c.prepare_cached(
        "SELECT d.display_id, d.label, l.code, l.name, d.created_at, u.name, d.last_seen_at, d.revoked_at
         FROM display d JOIN location l ON l.location_id = d.location_id
         LEFT JOIN app_user u ON u.user_id = d.created_by
         ORDER BY d.revoked_at IS NOT NULL, d.revoked_at DESC, l.code, d.label LIMIT 500",
    )?;
    let rows = st.query_map([], |r| {
        Ok(DisplayView {
            id: r.get(0)?,
            label: r.get(1)?,
            location_code: r.get(2)?,
            location_name: r.get(3)?,
            created_at: r.get(4)?,
            created_by: r.get(5)?,
            last_seen_at: r.get(6)?,
            revoked_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_plain_words_of_a_sensible_length() {
        assert!(check_label("Ward 4 corridor").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label(" padded").is_err());
        assert!(check_label("tab\there").is_err());
        assert!(check_label(&"x".repeat(LABEL_MAX)).is_ok());
        assert!(check_label(&"x".repeat(LABEL_MAX + 1)).is_err());
    }
}
